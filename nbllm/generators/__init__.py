"""Generators: strategies that run a Job on an LLM, registered by name for side-by-side use.

Importing it starts no thread; generators run on nbllm's I/O loop.
"""

from nbllm.core.results import RunResult, VoteResult
from nbllm.generators.concurrent import (
    AsyncGenerator,
    MultiThreadingAsyncGenerator,
    SequentialAsyncGenerator,
    SequentialAsyncGenerator2,
)
from nbllm.generators.consensus import MajorVoteGenerator
from nbllm.generators.examples import ExampleGenerator, ExampleRecord
from nbllm.generators.jobs import Example, Job, JobCall, JobSettings
from nbllm.generators.registry import GENERATORS, get_generator, list_generators
from nbllm.generators.sampler import Sampler, VariantResult, grid
from nbllm.generators.simple import Generator
from nbllm.scale.pool import LLMPool, split_generations
from nbllm.scale.process import ProcessLLM

__all__ = [
    "GENERATORS",
    "AsyncGenerator",
    "Example",
    "ExampleGenerator",
    "ExampleRecord",
    "Generator",
    "Job",
    "JobCall",
    "JobSettings",
    "LLMPool",
    "MajorVoteGenerator",
    "MultiThreadingAsyncGenerator",
    "ProcessLLM",
    "RunResult",
    "Sampler",
    "SequentialAsyncGenerator",
    "SequentialAsyncGenerator2",
    "VariantResult",
    "VoteResult",
    "get_generator",
    "grid",
    "list_generators",
    "split_generations",
]

"""Generators: strategies that run a Job on an LLM, registered by name for side-by-side use."""

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
from nbllm.generators.results import RunResult, VoteResult
from nbllm.generators.simple import Generator

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
    "MajorVoteGenerator",
    "MultiThreadingAsyncGenerator",
    "RunResult",
    "SequentialAsyncGenerator",
    "SequentialAsyncGenerator2",
    "VoteResult",
    "get_generator",
    "list_generators",
]

"""nbllm: a Jupyter-first toolkit for working with large language models.

Public names are listed here and imported on first use, so ``import nbllm`` stays fast and
starts no thread, process or event loop.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nbllm.core.views import register_view as _register_view

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "AuthenticationError": "nbllm.errors",
    "BackendError": "nbllm.errors",
    "BatchNotFinishedError": "nbllm.errors",
    "Budget": "nbllm.engine.budget",
    "BudgetExceededError": "nbllm.errors",
    "BundleError": "nbllm.errors",
    "CacheError": "nbllm.errors",
    "EngineDiedError": "nbllm.errors",
    "EngineStartError": "nbllm.errors",
    "InvalidInputError": "nbllm.errors",
    "InvalidParameterError": "nbllm.errors",
    "MissingDependencyError": "nbllm.errors",
    "ModelNotFoundError": "nbllm.errors",
    "NBLLMError": "nbllm.errors",
    "NBLLMWarning": "nbllm.errors",
    "NotRecordedError": "nbllm.errors",
    "ParseError": "nbllm.errors",
    "StreamInterruptedError": "nbllm.errors",
    "TransientBackendError": "nbllm.errors",
    "UnsupportedParameterError": "nbllm.errors",
    "UsageError": "nbllm.errors",
    "WorkerDiedError": "nbllm.errors",
    "WorkerLoadError": "nbllm.errors",
    # core types
    "GenerateOutput": "nbllm.core.outputs",
    "Generation": "nbllm.core.outputs",
    "GenerationParams": "nbllm.core.params",
    "GenerationStats": "nbllm.core.outputs",
    "PRESETS": "nbllm.core.params",
    "PROMPT_FORMATS": "nbllm.core.formats",
    "merge_responses": "nbllm.core.outputs",
    # engine
    "CBlock": "nbllm.engine.components",
    "Chat": "nbllm.engine.components",
    "Component": "nbllm.engine.components",
    "InferenceEngine": "nbllm.engine.protocol",
    "ModelOutputThunk": "nbllm.engine.thunk",
    "OutputCache": "nbllm.engine.cache",
    "RawGeneration": "nbllm.engine.requests",
    "RawRequest": "nbllm.engine.requests",
    "enable_nested_asyncio": "nbllm.engine.loop",
    # backends
    "AsyncLLM": "nbllm.llms.base",
    "LLM": "nbllm.llms.base",
    "LlamaCppLLM": "nbllm.llms.llamacpp",
    "OpenAILLM": "nbllm.llms.openai_compatible",
    "default_llm": "nbllm.llms.default",
    "BundleSession": "nbllm.llms.bundles",
    "record": "nbllm.llms.bundles",
    "replay": "nbllm.llms.bundles",
    "embedded_model_path": "nbllm.llms.embedded",
    "gemma_llm": "nbllm.llms.second_model",
    # generators
    "AsyncGenerator": "nbllm.generators",
    "Example": "nbllm.generators",
    "ExampleGenerator": "nbllm.generators",
    "Generator": "nbllm.generators",
    "Job": "nbllm.generators",
    "JobSettings": "nbllm.generators",
    "MajorVoteGenerator": "nbllm.generators",
    "MultiThreadingAsyncGenerator": "nbllm.generators",
    "Sampler": "nbllm.generators",
    "SequentialAsyncGenerator": "nbllm.generators",
    "SequentialAsyncGenerator2": "nbllm.generators",
    "list_generators": "nbllm.generators",
    # scaling out
    "LLMPool": "nbllm.scale.pool",
    "ProcessLLM": "nbllm.llms.process",
    "RayLLM": "nbllm.scale.ray_llm",
    # notebook layer
    "ChatWidget": "nbllm.notebook.chat",
    "Comparison": "nbllm.notebook.compare",
    "CostMeter": "nbllm.notebook.cost",
    "Exercise": "nbllm.notebook.exercise",
    "GeneratorPicker": "nbllm.notebook.generator_picker",
    "HumanVerification": "nbllm.notebook.human",
    "ParamsPanel": "nbllm.notebook.params_panel",
    "Playground": "nbllm.notebook.playground",
    "TemperatureExplorer": "nbllm.notebook.teaching",
    "TokenTree": "nbllm.notebook.token_tree",
    "class_results": "nbllm.notebook.exercise_files",
    "compare": "nbllm.notebook.compare",
    "scorers": "nbllm.scorers",
    "significance": "nbllm.notebook.significance",
    "Significance": "nbllm.notebook.significance",
    "Arena": "nbllm.notebook.arena",
    "LiveTable": "nbllm.notebook.live",
    "live_generate": "nbllm.notebook.live",
    "load_ipython_extension": "nbllm.notebook.magic",
    "plot_distribution": "nbllm.notebook.plots",
    "plot_latency": "nbllm.notebook.plots",
    "plot_tokens": "nbllm.notebook.plots",
    "plot_tokens_per_second": "nbllm.notebook.plots",
    "show": "nbllm.notebook.html",
    "to_dataframe": "nbllm.notebook.frames",
    "to_wide": "nbllm.notebook.frames",
}

__all__ = sorted(_EXPORTS)

# The notebook layer provides the table and DataFrame views of outputs; core only knows names.
_register_view("html", "nbllm.notebook.html:results_html")
_register_view("dataframe", "nbllm.notebook.frames:to_dataframe")


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nbllm' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module == f"nbllm.{name}" else getattr(imported, name)  # a public module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """nbllm's JupyterLab extension in a checkout, for `jupyter labextension develop .` (an
    editable install leaves out the data files that `pip install .` puts in place)."""
    return [{"src": "../labextension/prebuilt", "dest": "nbllm-lab"}]


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from nbllm import scorers
    from nbllm.core.formats import PROMPT_FORMATS
    from nbllm.core.outputs import GenerateOutput, Generation, GenerationStats, merge_responses
    from nbllm.core.params import PRESETS, GenerationParams
    from nbllm.engine.budget import Budget
    from nbllm.engine.cache import OutputCache
    from nbllm.engine.components import CBlock, Chat, Component
    from nbllm.engine.loop import enable_nested_asyncio
    from nbllm.engine.protocol import InferenceEngine
    from nbllm.engine.requests import RawGeneration, RawRequest
    from nbllm.engine.thunk import ModelOutputThunk
    from nbllm.errors import (
        AuthenticationError,
        BackendError,
        BatchNotFinishedError,
        BudgetExceededError,
        BundleError,
        CacheError,
        EngineDiedError,
        EngineStartError,
        InvalidInputError,
        InvalidParameterError,
        MissingDependencyError,
        ModelNotFoundError,
        NBLLMError,
        NBLLMWarning,
        NotRecordedError,
        ParseError,
        StreamInterruptedError,
        TransientBackendError,
        UnsupportedParameterError,
        UsageError,
        WorkerDiedError,
        WorkerLoadError,
    )
    from nbllm.generators import (
        AsyncGenerator,
        Example,
        ExampleGenerator,
        Generator,
        Job,
        JobSettings,
        MajorVoteGenerator,
        MultiThreadingAsyncGenerator,
        Sampler,
        SequentialAsyncGenerator,
        SequentialAsyncGenerator2,
        list_generators,
    )
    from nbllm.llms.base import LLM, AsyncLLM
    from nbllm.llms.bundles import BundleSession, record, replay
    from nbllm.llms.default import default_llm
    from nbllm.llms.embedded import embedded_model_path
    from nbllm.llms.llamacpp import LlamaCppLLM
    from nbllm.llms.openai_compatible import OpenAILLM
    from nbllm.llms.process import ProcessLLM
    from nbllm.llms.second_model import gemma_llm
    from nbllm.notebook.arena import Arena
    from nbllm.notebook.chat import ChatWidget
    from nbllm.notebook.compare import Comparison, compare
    from nbllm.notebook.cost import CostMeter
    from nbllm.notebook.exercise import Exercise
    from nbllm.notebook.exercise_files import class_results
    from nbllm.notebook.frames import to_dataframe, to_wide
    from nbllm.notebook.generator_picker import GeneratorPicker
    from nbllm.notebook.html import show
    from nbllm.notebook.human import HumanVerification
    from nbllm.notebook.live import LiveTable, live_generate
    from nbllm.notebook.magic import load_ipython_extension
    from nbllm.notebook.params_panel import ParamsPanel
    from nbllm.notebook.playground import Playground
    from nbllm.notebook.plots import plot_distribution, plot_latency, plot_tokens, plot_tokens_per_second
    from nbllm.notebook.significance import Significance, significance
    from nbllm.notebook.teaching import TemperatureExplorer
    from nbllm.notebook.token_tree import TokenTree
    from nbllm.scale.pool import LLMPool
    from nbllm.scale.ray_llm import RayLLM

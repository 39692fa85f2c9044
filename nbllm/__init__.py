"""nbllm: a Jupyter-first toolkit for working with large language models.

Public names are listed here once and imported on first use, so ``import nbllm`` stays fast
and starts no thread, process or event loop. Type checkers and editors read the same names from
__init__.pyi, which tools/build_stub.py writes from this table.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "ServerDiedError": "nbllm.errors",
    "ServerStartError": "nbllm.errors",
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
    "ParameterSupport": "nbllm.core.params",
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
    "ReasoningDelta": "nbllm.core.thinking",
    "enable_nested_asyncio": "nbllm.engine.loop",
    # backends
    "AsyncLLM": "nbllm.llms.base",
    "LLM": "nbllm.llms.base",
    "LlamaCppLLM": "nbllm.llms.llamacpp.llm",
    "OpenAILLM": "nbllm.llms.openai.llm",
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
    "ProcessLLM": "nbllm.scale.process",
    "RayLLM": "nbllm.scale.ray_llm",
    # notebook layer
    "ChatWidget": "nbllm.notebook.widgets.chat",
    "Comparison": "nbllm.notebook.compare.comparison",
    "CostMeter": "nbllm.notebook.widgets.cost",
    "Exercise": "nbllm.notebook.exercises.exercise",
    "GeneratorPicker": "nbllm.notebook.widgets.generator_picker",
    "HumanVerification": "nbllm.notebook.widgets.human",
    "ParamsPanel": "nbllm.notebook.widgets.params_panel",
    "Playground": "nbllm.notebook.widgets.playground",
    "TemperatureExplorer": "nbllm.notebook.widgets.temperature",
    "TokenTree": "nbllm.notebook.widgets.token_tree",
    "class_results": "nbllm.notebook.exercises.files",
    "compare": "nbllm.notebook.compare.comparison",
    "significance": "nbllm.notebook.compare.significance",
    "Significance": "nbllm.notebook.compare.significance",
    "Arena": "nbllm.notebook.arena.arena",
    "LiveTable": "nbllm.notebook.display.live",
    "live_generate": "nbllm.notebook.display.live",
    "load_ipython_extension": "nbllm.notebook.magic",
    "plot_distribution": "nbllm.notebook.display.plots",
    "plot_latency": "nbllm.notebook.display.plots",
    "plot_tokens": "nbllm.notebook.display.plots",
    "plot_tokens_per_second": "nbllm.notebook.display.plots",
    "show": "nbllm.notebook.display.html",
    "to_dataframe": "nbllm.notebook.display.frames",
    "to_wide": "nbllm.notebook.display.frames",
}

# Public modules, used as ``nbllm.scorers.contains("Paris")``.
_MODULES: dict[str, str] = {"scorers": "nbllm.notebook.compare.scorers"}

__all__ = sorted([*_EXPORTS, *_MODULES])

# The notebook layer provides the table and DataFrame views of outputs; core only knows names.
_register_view("html", "nbllm.notebook.display.html:results_html")
_register_view("dataframe", "nbllm.notebook.display.frames:to_dataframe")


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'nbllm' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """nbllm's JupyterLab extension in a checkout, for `jupyter labextension develop .` (an
    editable install leaves out the data files that `pip install .` puts in place)."""
    return [{"src": "../labextension/prebuilt", "dest": "nbllm-lab"}]

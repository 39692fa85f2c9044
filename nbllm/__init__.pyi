"""Written by tools/build_stub.py from the export table in __init__.py; do not edit."""

from nbllm.core.formats import PROMPT_FORMATS as PROMPT_FORMATS
from nbllm.core.outputs import GenerateOutput as GenerateOutput, Generation as Generation, GenerationStats as GenerationStats, merge_responses as merge_responses
from nbllm.core.params import GenerationParams as GenerationParams, PRESETS as PRESETS, ParameterSupport as ParameterSupport
from nbllm.core.thinking import ReasoningDelta as ReasoningDelta
from nbllm.engine.budget import Budget as Budget
from nbllm.engine.cache import OutputCache as OutputCache
from nbllm.engine.components import CBlock as CBlock, Chat as Chat, Component as Component
from nbllm.engine.loop import enable_nested_asyncio as enable_nested_asyncio
from nbllm.engine.protocol import InferenceEngine as InferenceEngine
from nbllm.engine.requests import RawGeneration as RawGeneration, RawRequest as RawRequest
from nbllm.engine.thunk import ModelOutputThunk as ModelOutputThunk
from nbllm.errors import AuthenticationError as AuthenticationError, BackendError as BackendError, BatchNotFinishedError as BatchNotFinishedError, BudgetExceededError as BudgetExceededError, BundleError as BundleError, CacheError as CacheError, InvalidInputError as InvalidInputError, InvalidParameterError as InvalidParameterError, MissingDependencyError as MissingDependencyError, ModelNotFoundError as ModelNotFoundError, NBLLMError as NBLLMError, NBLLMWarning as NBLLMWarning, NotRecordedError as NotRecordedError, ParseError as ParseError, ServerDiedError as ServerDiedError, ServerStartError as ServerStartError, StreamInterruptedError as StreamInterruptedError, TransientBackendError as TransientBackendError, UnsupportedParameterError as UnsupportedParameterError, UsageError as UsageError, WorkerDiedError as WorkerDiedError, WorkerLoadError as WorkerLoadError
from nbllm.generators import AsyncGenerator as AsyncGenerator, Example as Example, ExampleGenerator as ExampleGenerator, Generator as Generator, Job as Job, JobSettings as JobSettings, MajorVoteGenerator as MajorVoteGenerator, MultiThreadingAsyncGenerator as MultiThreadingAsyncGenerator, Sampler as Sampler, SequentialAsyncGenerator as SequentialAsyncGenerator, SequentialAsyncGenerator2 as SequentialAsyncGenerator2, list_generators as list_generators
from nbllm.llms.base import AsyncLLM as AsyncLLM, LLM as LLM
from nbllm.llms.bundles import BundleSession as BundleSession, record as record, replay as replay
from nbllm.llms.default import default_llm as default_llm
from nbllm.llms.embedded import embedded_model_path as embedded_model_path
from nbllm.llms.llamacpp.llm import LlamaCppLLM as LlamaCppLLM
from nbllm.llms.openai.llm import OpenAILLM as OpenAILLM
from nbllm.llms.second_model import gemma_llm as gemma_llm
from nbllm.notebook.arena.arena import Arena as Arena
from nbllm.notebook.compare.comparison import Comparison as Comparison, compare as compare
from nbllm.notebook.compare.significance import Significance as Significance, significance as significance
from nbllm.notebook.display.frames import to_dataframe as to_dataframe, to_wide as to_wide
from nbllm.notebook.display.html import show as show
from nbllm.notebook.display.live import LiveTable as LiveTable, live_generate as live_generate
from nbllm.notebook.display.plots import plot_distribution as plot_distribution, plot_latency as plot_latency, plot_tokens as plot_tokens, plot_tokens_per_second as plot_tokens_per_second
from nbllm.notebook.exercises.exercise import Exercise as Exercise
from nbllm.notebook.exercises.files import class_results as class_results
from nbllm.notebook.magic import load_ipython_extension as load_ipython_extension
from nbllm.notebook.widgets.chat import ChatWidget as ChatWidget
from nbllm.notebook.widgets.cost import CostMeter as CostMeter
from nbllm.notebook.widgets.generator_picker import GeneratorPicker as GeneratorPicker
from nbllm.notebook.widgets.human import HumanVerification as HumanVerification
from nbllm.notebook.widgets.params_panel import ParamsPanel as ParamsPanel
from nbllm.notebook.widgets.playground import Playground as Playground
from nbllm.notebook.widgets.temperature import TemperatureExplorer as TemperatureExplorer
from nbllm.notebook.widgets.token_tree import TokenTree as TokenTree
from nbllm.scale.pool import LLMPool as LLMPool
from nbllm.scale.process import ProcessLLM as ProcessLLM
from nbllm.scale.ray_llm import RayLLM as RayLLM
from nbllm.notebook.compare import scorers as scorers

__version__: str
__all__: list[str] = ['Arena', 'AsyncGenerator', 'AsyncLLM', 'AuthenticationError', 'BackendError', 'BatchNotFinishedError', 'Budget', 'BudgetExceededError', 'BundleError', 'BundleSession', 'CBlock', 'CacheError', 'Chat', 'ChatWidget', 'Comparison', 'Component', 'CostMeter', 'Example', 'ExampleGenerator', 'Exercise', 'GenerateOutput', 'Generation', 'GenerationParams', 'GenerationStats', 'Generator', 'GeneratorPicker', 'HumanVerification', 'InferenceEngine', 'InvalidInputError', 'InvalidParameterError', 'Job', 'JobSettings', 'LLM', 'LLMPool', 'LiveTable', 'LlamaCppLLM', 'MajorVoteGenerator', 'MissingDependencyError', 'ModelNotFoundError', 'ModelOutputThunk', 'MultiThreadingAsyncGenerator', 'NBLLMError', 'NBLLMWarning', 'NotRecordedError', 'OpenAILLM', 'OutputCache', 'PRESETS', 'PROMPT_FORMATS', 'ParameterSupport', 'ParamsPanel', 'ParseError', 'Playground', 'ProcessLLM', 'RawGeneration', 'RawRequest', 'RayLLM', 'ReasoningDelta', 'Sampler', 'SequentialAsyncGenerator', 'SequentialAsyncGenerator2', 'ServerDiedError', 'ServerStartError', 'Significance', 'StreamInterruptedError', 'TemperatureExplorer', 'TokenTree', 'TransientBackendError', 'UnsupportedParameterError', 'UsageError', 'WorkerDiedError', 'WorkerLoadError', 'class_results', 'compare', 'default_llm', 'embedded_model_path', 'enable_nested_asyncio', 'gemma_llm', 'list_generators', 'live_generate', 'load_ipython_extension', 'merge_responses', 'plot_distribution', 'plot_latency', 'plot_tokens', 'plot_tokens_per_second', 'record', 'replay', 'scorers', 'show', 'significance', 'to_dataframe', 'to_wide']

def _jupyter_labextension_paths() -> list[dict[str, str]]: ...

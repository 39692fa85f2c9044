"""`LLM`, the facade: settings (settings.py) and a backend (backend.py) handed to the engine.

A call validates its input and builds its requests here, on the caller's thread; one coroutine
then crosses to nbllm's I/O loop (engine/loop.py) and waits there for the answers. Users see
the same API for every backend: async methods written once, sync methods that wrap them. The
conversation (conversation.py) and checkpoints (checkpoints.py) are objects and functions the
LLM uses, not mixins.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Union

from pydantic import PrivateAttr, ValidationError

from nbllm.core.formats import resolve_prompt_format
from nbllm.core.messages import Input, to_batch
from nbllm.core.outputs import GenerateOutput, GenerateOutputs, Generation
from nbllm.core.schema import OutputSchema
from nbllm.engine import callbacks, loop
from nbllm.engine import sessions as replay
from nbllm.engine.cache import OutputCache
from nbllm.engine.components import Chat, Component
from nbllm.engine.progress import track
from nbllm.engine.protocol import InferenceEngine
from nbllm.engine.ratelimit import RateLimiter
from nbllm.engine.requests import EngineConfig, Plan, RawGeneration, RawRequest, RetryPolicy, plan
from nbllm.engine.thunk import ModelOutputThunk, gather_thunks
from nbllm.errors import InvalidInputError, UsageError
from nbllm.llms import checkpoints
from nbllm.llms.backend import Backend
from nbllm.llms.conversation import Conversation
from nbllm.llms.settings import (
    LLMSettings,
    check_call_size,
    check_num_generations,
    config_error,
    constructor_arguments,
)

SUMMARY_PROMPT = "Summarize the following text in two or three sentences.\n\nText:\n{text}"


class LLM(Backend, LLMSettings):
    """A language model with validated defaults, a cache, a chat history and statistics.

    Subclasses implement ``model_name``, ``_generate_raw`` and, where useful, ``load``/``unload``.
    """

    checkpoint_exclude: ClassVar[frozenset[str]] = frozenset({"prompt_formatting_fn"})

    _engine: Optional[InferenceEngine] = PrivateAttr(None)
    _observers: list[Callable[[str, Any], None]] = PrivateAttr(default_factory=list)
    _unwatch_params: Optional[Callable[[], Any]] = PrivateAttr(None)
    _limiter: Optional[RateLimiter] = PrivateAttr(None)
    _conversation: Conversation = PrivateAttr()
    _blocking: Optional[concurrent.futures.ThreadPoolExecutor] = PrivateAttr(None)

    def __init__(self, **data: Any) -> None:
        """Settings by name; generation parameters too, as in the BaseLLM interface:
        ``LlamaCppLLM(temperature=0.7, max_tokens=50, top_k=50, top_p=0.9)``."""
        history = data.pop("history", ())
        data = constructor_arguments(type(self).__name__, data)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(type(self).__name__, exc) from None
        resolve_prompt_format(self.prompt_format, self.prompt_formatting_fn)
        self._conversation = Conversation(history, on_change=lambda: self._notify("history", self.history))

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise config_error(type(self).__name__, exc) from None
        if name in ("requests_per_minute", "tokens_per_minute"):
            self._limiter = None
        if name == "concurrency" and self._blocking is not None:
            self._blocking.shutdown(wait=False)  # the next blocking call makes a pool of the new size
            self._blocking = None
        if (
            name in ("max_retries", "timeout", "max_retry_after", "concurrency", "cache", "cache_path")
            and self._engine is not None
        ):
            self._configure_engine(name)  # in place: listeners and logging stay
        if not name.startswith("_") and name != "history" and self._observers:
            if name == "params":
                self._wire_params()
            self._notify(name, getattr(self, name))

    def observe(self, callback: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``callback(name, value)`` whenever a setting (history, params, ...) is assigned;
        a change to one generation parameter comes as ``("params", params)``. Returns an
        unsubscribe function. Widgets use this to follow the LLM without polling."""
        self._observers.append(callback)
        if len(self._observers) == 1:
            self._wire_params()
        return lambda: callback in self._observers and self._observers.remove(callback)

    def _wire_params(self) -> None:
        if self._unwatch_params is not None:
            self._unwatch_params()
        self._unwatch_params = self.params.observe(lambda *_: self._notify("params", self.params))

    def _notify(self, name: str, value: Any) -> None:
        for callback in list(self._observers):
            callback(name, value)

    # -- the engine -------------------------------------------------------------------------
    @property
    def engine(self) -> InferenceEngine:
        if self._engine is None:
            retry = RetryPolicy(
                max_retries=self.max_retries, timeout=self.timeout, max_retry_after=self.max_retry_after
            )
            self._engine = InferenceEngine(self._make_cache(), self.concurrency, retry)
        return self._engine

    def _make_cache(self) -> Optional[OutputCache]:
        return OutputCache(self.cache_path) if self.cache else None

    def _configure_engine(self, name: str) -> None:
        engine = self.engine
        if name in ("cache", "cache_path"):
            engine.configure(cache=self._make_cache())
        elif name == "concurrency":
            engine.configure(concurrency=self.concurrency)
        else:
            engine.configure(
                retry=dataclasses.replace(
                    engine.retry,
                    max_retries=self.max_retries,
                    timeout=self.timeout,
                    max_retry_after=self.max_retry_after,
                )
            )

    def _engine_config(self) -> EngineConfig:
        if not replay.serving():  # a replayed answer needs no key, server or model file
            self._check_ready()
        return EngineConfig(
            model_name=self.model_name,
            identity=self._cache_identity(),
            raw_call=self._agenerate_raw,
            supported_params=self._supported_params(),
            supports_n=self.supports_n,
            default_params=self.default_params(),
            prompt_formatting_fn=resolve_prompt_format(self.prompt_format, self.prompt_formatting_fn),
            raw_stream=self._astream_raw if self.supports_streaming else None,
            budget=self.budget,
            rate_limiter=self._rate_limiter(),
            secrets=self._secrets(),
            context_size=self.context_size(),
            max_input_chars=self.max_input_chars,
            output_ceiling=self._output_ceiling,
        )

    def _rate_limiter(self) -> Optional[RateLimiter]:
        if self._limiter is None and (self.requests_per_minute or self.tokens_per_minute):
            self._limiter = RateLimiter(self.requests_per_minute, self.tokens_per_minute)
        return self._limiter

    @property
    def generation_kwargs(self) -> dict[str, Any]:
        """The default generation parameters that are set on this LLM."""
        return self.params.set_values()

    # -- generate ---------------------------------------------------------------------------
    def submit(
        self,
        inputs: Union[Input, Sequence[Input], Component, Sequence[Component]],
        num_generations: int = 1,
        *,
        fresh: bool = False,
        structured_output: Optional[OutputSchema] = None,
        sample_offset: int = 0,
        **overrides: Any,
    ) -> list[list[ModelOutputThunk]]:
        """Validate everything, then schedule the work; returns thunks per input at once.

        ``fresh=True`` skips the cache lookup (new samples; they are still stored).
        ``sample_offset`` numbers the samples from there (distinct seeds and cache entries).
        """
        check_num_generations(num_generations)
        components = self._components(inputs, structured_output)
        check_call_size(len(components), num_generations)
        config = self._engine_config()
        params, schema = self.engine.prepare(config, [self.params.set_values(), overrides], structured_output)
        return self.engine.generate(config, components, num_generations, params, schema, fresh, sample_offset)

    def plan(self, inputs: Any, num_generations: int = 1, **options: Any) -> Plan:
        """What ``generate(inputs, num_generations, **parameters)`` sends, sending nothing."""
        config = self._engine_config()
        params, schema = self.engine.prepare(config, [self.params.set_values(), options])
        return plan(config, self._components(inputs, None), num_generations, params, schema)

    def _components(self, inputs: Any, structured_output: Optional[OutputSchema]) -> list[Component]:
        if isinstance(inputs, Component):
            return [inputs]
        if isinstance(inputs, Sequence) and inputs and all(isinstance(c, Component) for c in inputs):
            return list(inputs)
        return [
            Chat.of_messages(m, structured_output) for m in to_batch(inputs, self.effective_system_prompt)
        ]

    async def agenerate_many(
        self,
        inputs: Any,
        num_generations: int = 1,
        progress: Any = None,
        progress_callback_func: Any = None,
        **options: Any,
    ) -> GenerateOutputs:
        """Generate for every input concurrently; failed samples are kept with their error.

        ``progress=True`` shows a tqdm bar (a widget in notebooks); a callable gets
        ``(done, total)`` as each generation completes. ``progress_callback_func`` is
        distilabel 0.x's name for the same callable."""
        progress = progress if progress is not None else progress_callback_func
        batches = self.submit(inputs, num_generations, **options)
        return await loop.run_async(self._collect(batches, progress))

    async def _collect(self, batches: list[list[ModelOutputThunk]], progress: Any) -> GenerateOutputs:
        """On the I/O loop: wait for every sample, then one output per input."""
        flat = [t for batch in batches for t in batch]
        if progress:
            track(flat, progress)
        generations = await gather_thunks(flat)
        if progress or self.engine.listeners or self.engine.log.writes_file:  # done when it returns
            await callbacks.drained()
        outputs = GenerateOutputs()
        start = 0
        for batch in batches:
            first = batch[0]
            own = generations[start : start + len(batch)]
            start += len(batch)
            outputs.append(
                GenerateOutput(self.model_name, own, first.component.format_for_llm(), first.params)
            )
        return self._collected(outputs)

    def _collected(self, outputs: GenerateOutputs) -> GenerateOutputs:
        """A backend's last word on a finished call (OpenAILLM raises an unfinished batch)."""
        return outputs

    async def astream(
        self, input: Any, *, fresh: bool = False, thinking: bool = False, **overrides: Any
    ) -> AsyncIterator[str]:
        """The answer of one generation as it is produced (a cache hit arrives in one piece);
        with `thinking`, a reasoning model's thinking too, as `nbllm.ReasoningDelta` pieces."""
        async for delta in loop.aiter_on_io(self._stream(input, fresh, thinking, overrides)):
            yield delta

    def stream(
        self, input: Any, *, fresh: bool = False, thinking: bool = False, **overrides: Any
    ) -> Iterator[str]:
        """Sync twin of astream: ``for piece in llm.stream("Tell a story"): print(piece, end="")``."""
        return loop.iter_on_io(self._stream(input, fresh, thinking, overrides))

    def _stream(
        self, input: Any, fresh: bool, thinking: bool, overrides: dict[str, Any]
    ) -> AsyncIterator[str]:
        """Validate now (bad input raises before any request); the iterator runs on the I/O loop."""
        (component,) = self._components([input] if isinstance(input, str) else input, None)
        config = self._engine_config()
        params, _ = self.engine.prepare(config, [self.params.set_values(), overrides])
        return self.engine.stream(config, component, params, fresh, thinking)

    async def agenerate(self, input: Any, num_generations: int = 1, **options: Any) -> GenerateOutput:
        """Generate `num_generations` samples for one input (distilabel's agenerate)."""
        (output,) = await self.agenerate_many([input], num_generations, **options)
        return output

    def generate(
        self,
        inputs: Any,
        num_generations: int = 1,
        progress: Any = None,
        progress_callback_func: Any = None,
        **options: Any,
    ) -> GenerateOutputs:
        """Sync twin of agenerate_many; works in scripts and inside Jupyter's running loop.

        Validation and request building happen here, on the caller's thread; one coroutine
        crosses to the I/O loop and waits there for the answers."""
        progress = progress if progress is not None else progress_callback_func
        batches = self.submit(inputs, num_generations, **options)
        return loop.run_sync(self._collect(batches, progress))

    # -- the BaseLLM interface's conveniences, on top of generate --------------------------------
    async def arun(self, task: Any, **options: Any) -> str:
        """The text of one generation for `task`; raises the error if it failed."""
        (output,) = await self.agenerate_many([task], 1, **options)
        return output.raise_for_errors().generations[0].text or ""

    def run(self, task: Any, **options: Any) -> str:
        (output,) = self.generate([task], 1, **options)
        return output.raise_for_errors().generations[0].text or ""

    def __call__(self, task: Any, **options: Any) -> str:
        return self.run(task, **options)

    async def abatch_run(self, tasks: list[Any], **options: Any) -> list[Optional[str]]:
        """One text per task, in order (None where a task failed: see ``generate`` for errors)."""
        return [o.generations[0].text for o in await self.agenerate_many(list(tasks), 1, **options)]

    def batch_run(self, tasks: list[Any], **options: Any) -> list[Optional[str]]:
        return [o.generations[0].text for o in self.generate(list(tasks), 1, **options)]

    def generate_summary(self, text: str, **options: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("generate_summary needs a non-empty text.")
        return self.run(SUMMARY_PROMPT.format(text=text), **options)

    # -- the conversation -------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        """The chat this LLM holds: its messages (``history``) and the branches forks left."""
        return self._conversation

    @property
    def history(self) -> list[dict[str, str]]:
        return self._conversation.messages

    @history.setter
    def history(self, messages: list[dict[str, str]]) -> None:
        self._conversation.replace(messages)

    def chat(self, message: str, history: Any = None, **options: Any) -> str:
        """Send `message` after the history; the reply is appended to ``history``.

        ``history`` (the BaseLLM interface's argument) replaces ``self.history`` for this turn:
        a list of chat messages, or a transcript as text (sent as context in a system message)."""
        sent = self._conversation.turn(message, history)
        reply = self.run(sent, **options)
        self._conversation.answered(sent, reply)
        return reply

    def clear_history(self) -> None:
        self.history = []

    # -- checkpoints and logging ---------------------------------------------------------------
    def save_checkpoint(self, path: Union[str, Path]) -> Path:
        """Write configuration, parameters and the conversation as JSON (never an API key)."""
        return checkpoints.save(self, path, self.checkpoint_exclude)

    def load_checkpoint(self, path: Union[str, Path]) -> LLM:
        """Restore parameters, system prompt and the conversation from a checkpoint."""
        checkpoints.restore(self, path)
        return self

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], **overrides: Any) -> LLM:
        """A new LLM of the saved class, a `cls` (pass api_key, a URL's password, server_binary again)."""
        return checkpoints.rebuild(path, LLM, cls, overrides)

    def enable_logging(self, log_file: Union[str, Path] = "nbllm.log") -> None:
        """Append every generation and event to `log_file` as JSON lines."""
        self.engine.log.enable_file(str(log_file))

    def log_event(self, message: str, **fields: Any) -> None:
        self.engine.log.event(message, model=self.model_name, **fields)

    # -- statistics of the last generation ------------------------------------------------------
    @property
    def last_generation(self) -> Optional[Generation]:
        return self._engine.last_generation if self._engine is not None else None

    @property
    def tokens_per_second(self) -> float:
        """Output tokens per second of the last generation."""
        last = self.last_generation
        return last.stats.tokens_per_second if last else 0.0

    @property
    def last_generation_time(self) -> float:
        """Seconds the last generation took (0 for a cache hit)."""
        last = self.last_generation
        return last.stats.latency if last and not last.stats.cache_hit else 0.0

    def get_last_hidden_states(self, inputs: Sequence[Input]) -> list[Any]:
        """Per-token hidden states, [num_tokens, hidden_size] per input, where the backend can."""
        raise UsageError(f"{type(self).__name__} cannot return hidden states; use LlamaCppLLM.")

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer."""
        raise UsageError(
            f"{type(self).__name__} has no local tokenizer; token counts come from the API's "
            "usage numbers in each generation's stats (pip install 'nbllm[tiktoken]' to count "
            "OpenAI tokens locally)."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_name!r}, params={self.generation_kwargs})"


class AsyncLLM(LLM):
    """An LLM whose backend is natively async: implement ``_agenerate_raw``."""

    @abstractmethod
    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        """Awaited on nbllm's I/O loop: one request, `request.n` choices (or fewer)."""

"""The LLM contracts. A backend implements one raw call; the engine does everything else.

`LLM` backends implement a blocking ``_generate_raw`` (run in a worker thread); `AsyncLLM`
backends implement ``_agenerate_raw`` (awaited on nbllm's I/O loop). Users see the same API
on both: async methods written once, sync methods that wrap them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Callable, ClassVar, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from nbllm.core.formats import resolve_prompt_format
from nbllm.core.messages import Input, to_batch
from nbllm.core.outputs import GenerateOutput, GenerateOutputs, Generation
from nbllm.core.params import GenerationParams
from nbllm.core.schema import OutputSchema
from nbllm.engine import callbacks, loop
from nbllm.engine.budget import Budget
from nbllm.engine.cache import OutputCache
from nbllm.engine.components import Chat, Component
from nbllm.engine.progress import Progress
from nbllm.engine.protocol import InferenceEngine
from nbllm.engine.ratelimit import RateLimiter
from nbllm.engine.requests import (
    EngineConfig,
    RawGeneration,
    RawRequest,
    RetryPolicy,
    build_request,
    cache_entry,
    cached_stats,
    estimate_tokens,
    sample_key,
)
from nbllm.engine.thunk import ModelOutputThunk, gather_thunks
from nbllm.errors import InvalidParameterError, UnsupportedParameterError, UsageError
from nbllm.llms.conveniences import ConveniencesMixin

COMMON_PARAMS = frozenset(
    {"temperature", "top_p", "max_tokens", "seed", "stop", "frequency_penalty", "presence_penalty"}
)
# Constructor arguments of the BaseLLM interface nbllm cannot honour, with what to do instead.
UNSUPPORTED_ARGUMENTS = {
    "beam_width": "nbllm samples; it does not run beam search",
    "num_beams": "nbllm samples; it does not run beam search",
    "length_penalty": "it only applies to beam search",
    "early_stopping": "it only applies to beam search",
    "do_sample": "set temperature=0 for greedy decoding",
    "num_return_sequences": "pass num_generations= to generate",
    "max_length": "use max_tokens (it counts only generated tokens)",
    "role": "messages carry their own roles",
    "device": "llama.cpp here runs on the CPU; an endpoint decides its own devices",
    "pad_token_id": "the backend's tokenizer decides it",
    "eos_token_id": "use stop= for strings that end a generation",
    "bos_token_id": "the backend's tokenizer decides it",
}
ARGUMENT_ALIASES = {"stop_token": "stop", "repition_penalty": "repetition_penalty"}

# Samples one call may ask for: per input, and in all (each pending sample holds a little memory).
MAX_NUM_GENERATIONS = 1024
MAX_SAMPLES_PER_CALL = 250_000


class LLM(ConveniencesMixin, BaseModel):
    """A language model with validated defaults, a cache, a chat history and statistics.

    Subclasses implement ``model_name``, ``_generate_raw`` and, where useful, ``load``/``unload``.
    """

    model_config = ConfigDict(
        arbitrary_types_allowed=True, validate_assignment=True, extra="forbid", protected_namespaces=()
    )

    params: GenerationParams = Field(default_factory=GenerationParams)
    system_prompt: Optional[str] = None
    prompt_format: Optional[str] = None
    prompt_formatting_fn: Optional[Callable[..., str]] = Field(None, exclude=True)
    concurrency: int = Field(8, ge=1, description="Requests in flight at once (distilabel's num_threads).")
    cache: bool = Field(default_factory=lambda: os.environ.get("NBLLM_CACHE", "1") != "0")
    cache_path: Optional[str] = None
    max_retries: int = Field(3, ge=0, description="Retries of a transient failure (429, 5xx, timeouts).")
    timeout: Optional[float] = Field(None, gt=0, description="Seconds one request may take.")
    max_retry_after: float = Field(
        60.0,
        ge=0,
        description="Longest Retry-After (seconds) a server may ask for; a longer wait is replaced by "
        "backoff with jitter (a proxy that always says 60 s would otherwise stall a notebook).",
    )
    requests_per_minute: Optional[float] = Field(None, gt=0)
    tokens_per_minute: Optional[float] = Field(None, gt=0)
    history: list[dict[str, str]] = Field(default_factory=list)
    budget: Optional[Any] = Field(
        None, exclude=True, description="A Budget: prices and an optional cost ceiling."
    )
    max_input_chars: Optional[int] = Field(
        None,
        ge=1,
        description="Longest prompt accepted, in characters (default: 8 per token of the model's "
        "context where it states one, else 4,000,000).",
    )

    supported_params: ClassVar[frozenset[str]] = COMMON_PARAMS
    supports_n: ClassVar[bool] = False
    supports_streaming: ClassVar[bool] = False

    _engine: Optional[InferenceEngine] = PrivateAttr(None)
    _observers: list[Callable[[str, Any], None]] = PrivateAttr(default_factory=list)
    _unwatch_params: Optional[Callable[[], Any]] = PrivateAttr(None)
    _limiter: Optional[RateLimiter] = PrivateAttr(None)

    def __init__(self, **data: Any) -> None:
        """Settings by name; generation parameters too, as in the BaseLLM interface:
        ``LlamaCppLLM(temperature=0.7, max_tokens=50, top_k=50, top_p=0.9)``."""
        if "num_threads" in data:
            data["concurrency"] = data.pop("num_threads")
        unsupported = sorted(k for k in data if k in UNSUPPORTED_ARGUMENTS)
        if unsupported:
            reasons = "; ".join(f"{k}: {UNSUPPORTED_ARGUMENTS[k]}" for k in unsupported)
            raise UnsupportedParameterError(
                f"{type(self).__name__} cannot honour {', '.join(unsupported)} ({reasons}).", unsupported[0]
            )
        for alias, name in ARGUMENT_ALIASES.items():
            if alias in data:
                data[name] = data.pop(alias)
        given = data.get("params")
        params = (
            given.model_dump(exclude_none=True) if isinstance(given, GenerationParams) else dict(given or {})
        )
        params.update({k: data.pop(k) for k in list(data) if k in GenerationParams.model_fields})
        if params or given is not None:
            data["params"] = GenerationParams(**params)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(type(self).__name__, exc) from None
        resolve_prompt_format(self.prompt_format, self.prompt_formatting_fn)

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _config_error(type(self).__name__, exc) from None
        if name in ("requests_per_minute", "tokens_per_minute"):
            self._limiter = None
        if (
            name in ("max_retries", "timeout", "max_retry_after", "concurrency", "cache", "cache_path")
            and self._engine is not None
        ):
            self._configure_engine(name)  # in place: listeners and logging stay
        if not name.startswith("_") and self._observers:
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

    @field_validator("budget")
    @classmethod
    def _is_budget(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Budget):
            raise ValueError("budget must be an nbllm.Budget")
        return value

    @field_validator("prompt_format")
    @classmethod
    def _known_format(cls, value: Optional[str]) -> Optional[str]:
        resolve_prompt_format(value, None)
        return value

    # -- what a backend provides --------------------------------------------------------
    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's name, as reported in outputs."""

    def load(self) -> None:
        """Load the model (backends that hold one override this; called on first use)."""

    def check_ready(self) -> None:
        """Cheap checks before anything is scheduled (a key, a model file). By default it loads
        the model; backends whose load is slow override it and load in their raw call, off the
        I/O loop."""
        self.load()

    def context_size(self) -> Optional[int]:
        """Tokens the model's context holds, where the backend knows it (bounds inputs)."""
        return None

    async def _output_ceiling(self, request: RawRequest) -> Optional[int]:
        """The most tokens one answer to `request` can have without max_tokens, where the
        backend knows it (the budget holds that much): here the context less the prompt."""
        size = self.context_size()
        return max(size - estimate_tokens(request), 1) if size else None

    def _secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in an error, log or output (API keys)."""
        return ()

    def unload(self) -> None:
        """Release the model and its clients."""

    def default_params(self) -> dict[str, Any]:
        """The backend's own defaults, the lowest layer of the merge."""
        return {}

    def default_system_prompt(self) -> Optional[str]:
        """The system prompt used when ``system_prompt`` is not set (a model may need one)."""
        return None

    @property
    def effective_system_prompt(self) -> Optional[str]:
        return self.system_prompt if self.system_prompt is not None else self.default_system_prompt()

    def _supported_params(self) -> frozenset[str]:
        return self.supported_params

    def cache_identity(self) -> dict[str, Any]:
        """What distinguishes this model's answers from another's, for the cache key."""
        return {"backend": type(self).__name__, "model": self.model_name}

    def _generate_raw(self, request: RawRequest) -> list[RawGeneration]:
        """Blocking raw call: one request, `request.n` choices (or fewer)."""
        raise UsageError(f"{type(self).__name__} implements neither _generate_raw nor _agenerate_raw.")

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        return await asyncio.to_thread(self._load_and_generate, request)

    def _load_and_generate(self, request: RawRequest) -> list[RawGeneration]:
        self.load()  # in the worker thread: a slow load never stalls the I/O loop
        return self._generate_raw(request)

    def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        """Text deltas for one choice (backends with ``supports_streaming`` override this)."""
        raise UsageError(f"{type(self).__name__} cannot stream.")

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
        self.check_ready()
        return EngineConfig(
            model_name=self.model_name,
            identity=self.cache_identity(),
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
        if len(components) * num_generations > MAX_SAMPLES_PER_CALL:
            raise InvalidParameterError(
                f"{len(components):,} inputs x {num_generations} generations is more than the "
                f"{MAX_SAMPLES_PER_CALL:,} samples one call takes; split the inputs into chunks.",
                "num_generations",
            )
        config = self._engine_config()
        params, schema = self.engine.prepare(config, [self.params.set_values(), overrides], structured_output)
        return self.engine.generate(config, components, num_generations, params, schema, fresh, sample_offset)

    def _components(self, inputs: Any, structured_output: Optional[OutputSchema]) -> list[Component]:
        if isinstance(inputs, Component):
            return [inputs]
        if isinstance(inputs, Sequence) and inputs and all(isinstance(c, Component) for c in inputs):
            return list(inputs)
        return [
            Chat.of_messages(m, structured_output) for m in to_batch(inputs, self.effective_system_prompt)
        ]

    # -- the cache, for schedulers that send work elsewhere -------------------------------------
    def cached(
        self, inputs: Any, num_generations: int = 1, **overrides: Any
    ) -> list[Optional[GenerateOutput]]:
        """Per input, its outputs when the cache holds every sample, else None: what a scheduler
        (``LLMPool.generate_frame``) need not send anywhere. Nothing is generated."""
        components, keys, params = self._sample_keys(inputs, num_generations, overrides)
        cache = self.engine.cache
        hits = cache.get_many([k for ks in keys for k in ks]) if cache is not None else {}
        outputs: list[Optional[GenerateOutput]] = []
        for component, sample_keys in zip(components, keys):
            if not all(k in hits for k in sample_keys):
                outputs.append(None)
                continue
            generations = [
                Generation(hits[k]["text"], cached_stats(hits[k]), i) for i, k in enumerate(sample_keys)
            ]
            outputs.append(GenerateOutput(self.model_name, generations, component.format_for_llm(), params))
        return outputs

    def remember(self, inputs: Any, outputs: Sequence[GenerateOutput], **overrides: Any) -> None:
        """Store outputs made elsewhere (a child process, a Ray actor) under this LLM's cache
        keys, so a rerun finds them here. Failed samples are not stored."""
        cache = self.engine.cache
        if cache is None or not outputs:
            return
        num_generations = max(len(o.generations) for o in outputs)
        _, keys, _ = self._sample_keys(inputs, num_generations, overrides)
        cache.put_many(
            (sample_keys[g.sample_index], cache_entry(g.text, g.stats))
            for output, sample_keys in zip(outputs, keys)
            for g in output.generations
            if g.ok and g.sample_index < len(sample_keys)
        )

    def _sample_keys(
        self, inputs: Any, num_generations: int, overrides: dict[str, Any]
    ) -> tuple[list[Component], list[list[str]], dict[str, Any]]:
        config = self._engine_config()
        params, schema = self.engine.prepare(config, [self.params.set_values(), overrides])
        components = self._components(inputs, None)
        keys = [
            [sample_key(config, build_request(config, c, params, schema), i) for i in range(num_generations)]
            for c in components
        ]
        return components, keys, params

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
        flat = [t for batch in batches for t in batch]
        if progress:
            _track(flat, progress)
        generations = await gather_thunks(flat)
        if progress or self.engine.listeners:  # their callbacks have run when generate returns
            await callbacks.drained()
        outputs = GenerateOutputs()
        for i, batch in enumerate(batches):
            first = batch[0]
            own = generations[i * num_generations : (i + 1) * num_generations]
            outputs.append(
                GenerateOutput(self.model_name, own, first.component.format_for_llm(), first.params)
            )
        return outputs

    async def astream(self, input: Any, *, fresh: bool = False, **overrides: Any) -> AsyncIterator[str]:
        """The text of one generation as it is produced (a cache hit arrives in one piece)."""
        async for delta in loop.aiter_on_io(self._stream(input, fresh, overrides)):
            yield delta

    def stream(self, input: Any, *, fresh: bool = False, **overrides: Any) -> Iterator[str]:
        """Sync twin of astream: ``for piece in llm.stream("Tell a story"): print(piece, end="")``."""
        return loop.iter_on_io(self._stream(input, fresh, overrides))

    def _stream(self, input: Any, fresh: bool, overrides: dict[str, Any]) -> AsyncIterator[str]:
        """Validate now (bad input raises before any request); the iterator runs on the I/O loop."""
        (component,) = self._components([input] if isinstance(input, str) else input, None)
        config = self._engine_config()
        params, _ = self.engine.prepare(config, [self.params.set_values(), overrides])
        return self.engine.stream(config, component, params, fresh)

    async def agenerate(self, input: Any, num_generations: int = 1, **options: Any) -> GenerateOutput:
        """Generate `num_generations` samples for one input (distilabel's agenerate)."""
        (output,) = await loop.run_async(self.agenerate_many([input], num_generations, **options))
        return output

    def generate(self, inputs: Any, num_generations: int = 1, **options: Any) -> list[GenerateOutput]:
        """Sync twin of agenerate_many; works in scripts and inside Jupyter's running loop."""
        return loop.run_sync(self.agenerate_many(inputs, num_generations, **options))

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


def check_num_generations(num_generations: Any) -> None:
    if not isinstance(num_generations, int) or isinstance(num_generations, bool) or num_generations < 1:
        raise InvalidParameterError(
            f"num_generations={num_generations!r} is invalid: it must be an integer >= 1.", "num_generations"
        )
    if num_generations > MAX_NUM_GENERATIONS:
        raise InvalidParameterError(
            f"num_generations={num_generations:,} is more than the {MAX_NUM_GENERATIONS} samples nbllm "
            "generates for one input; ask for fewer, or run the call again with fresh=True for more.",
            "num_generations",
        )


def _track(thunks: list[ModelOutputThunk], progress: Any) -> None:
    """Report completions to a callback, or to a tqdm bar when progress is True, on nbllm's
    callback thread (never the I/O loop)."""
    total = len(thunks)
    if callable(progress):
        report = progress
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="generating", unit="gen")

        def report(done: int, _: int) -> None:
            bar.update(1)
            if done == total:
                bar.close()

    Progress(total, report).follow(thunks)


def _config_error(owner: str, exc: ValidationError) -> InvalidParameterError:
    """A pydantic error on an LLM's configuration, as nbllm's error naming the field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "?"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"{owner} has no setting {field!r}"
    return InvalidParameterError(f"{owner}.{field}: {message} (got {err.get('input')!r:.80})", field)


class AsyncLLM(LLM):
    """An LLM whose backend is natively async: implement ``_agenerate_raw``."""

    @abstractmethod
    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        """Awaited on nbllm's I/O loop: one request, `request.n` choices (or fewer)."""

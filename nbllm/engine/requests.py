"""What flows between the engine and a backend: requests, raw generations, configuration.

Pure: runs on whatever thread calls it; requests are built where the engine schedules (the
caller's thread, or the I/O loop for a generator's calls).
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Union

from nbllm.core.formats import PromptFormattingFn
from nbllm.core.messages import Messages
from nbllm.core.outputs import GenerationStats
from nbllm.core.schema import schema_dict, schema_name
from nbllm.core.thinking import ReasoningDelta
from nbllm.engine.budget import Budget
from nbllm.engine.cache import cache_key
from nbllm.engine.components import Component
from nbllm.engine.ratelimit import RateLimiter
from nbllm.engine.thunk import ModelOutputThunk
from nbllm.errors import InvalidInputError, NBLLMError, TransientBackendError

# openai-python waits for a server's Retry-After only up to a minute; longer asks get backoff.
MAX_RETRY_AFTER = 60.0
# Characters a prompt may have when the model states no context size (about 1M tokens, the
# largest context offered today); a model with a context allows at most 8 characters a token.
DEFAULT_MAX_INPUT_CHARS = 4_000_000
CHARS_PER_TOKEN_BOUND = 8


@dataclass
class RawRequest:
    """What a backend's raw call receives: messages (or a rendered prompt) and merged params."""

    messages: Messages
    prompt: str | None
    params: dict[str, Any]
    n: int = 1
    response_schema: dict[str, Any] | None = None
    schema_name: str = "output"


@dataclass
class RawGeneration:
    """What a backend's raw call returns per choice."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    tokens_estimated: bool = False  # counted by nbllm: the server sent no usage
    notes: tuple[str, ...] = ()  # what the user should know about this answer (e.g. seeds)
    reasoning: str | None = None  # the thinking, apart from the answer in `text`
    reasoning_tokens: int = 0  # of output_tokens, those that were thinking
    reasoning_estimated: bool = False  # counted by nbllm from the thinking's text


@dataclass
class EngineJob:
    component: Component
    request: RawRequest
    thunks: list[ModelOutputThunk]


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter for TransientBackendError (openai-python's semantics).

    A server's Retry-After is honoured when it is between 0 and `max_retry_after` seconds (60,
    as in openai-python); a longer (or unparsable) one falls back to the backoff.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float | None = None
    max_retry_after: float = MAX_RETRY_AFTER

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        backoff *= 1 - 0.25 * random.random()
        if retry_after is not None and 0 < retry_after <= self.max_retry_after:
            return retry_after
        return backoff

    def call_sync(self, call: Callable[[], Any]) -> Any:
        """`call()` on the caller's thread, retried on passing faults (a server still loading its
        model, a dropped connection) as the engine retries a generation, with backoff."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except TransientBackendError as exc:
                if attempt > self.max_retries:
                    raise
                time.sleep(self.delay(attempt, exc.retry_after))


RawCall = Callable[[RawRequest], Awaitable[list[RawGeneration]]]
# A raw stream yields the answer's text deltas and the thinking's, and may end with a
# RawGeneration carrying the usage numbers.
RawStream = Callable[[RawRequest], AsyncIterator[Union[str, ReasoningDelta, RawGeneration]]]
# A raw batch answers many (cache key, request) pairs at once: per key a RawGeneration or an error.
RawBatch = Callable[[list[tuple[str, RawRequest]]], Awaitable[dict[str, Union[RawGeneration, NBLLMError]]]]
# Receives a stream's text deltas; None means a retry starts over.
Sink = Callable[[Union[str, None]], None]


@dataclass
class EngineConfig:
    """Everything the engine needs to know about one LLM, gathered once per call."""

    model_name: str
    identity: dict[str, Any]
    raw_call: RawCall
    supported_params: frozenset[str]
    supports_n: bool
    default_params: dict[str, Any] = field(default_factory=dict)
    prompt_formatting_fn: PromptFormattingFn | None = None
    raw_stream: RawStream | None = None
    budget: Budget | None = None
    rate_limiter: RateLimiter | None = None
    raw_batch: RawBatch | None = None
    secrets: tuple[str, ...] = ()
    context_size: int | None = None
    max_input_chars: int | None = None
    # the most output tokens one request can write without max_tokens, where the backend knows
    output_ceiling: Callable[[RawRequest], Awaitable[int | None]] | None = None
    # refuses, before any request, merged parameters the model is known not to take
    check_params: Callable[[dict[str, Any]], None] | None = None


def with_sample(request: RawRequest, first_index: int, n: int) -> RawRequest:
    if n == request.n and (not first_index or "seed" not in request.params):
        return request
    params = dict(request.params)
    if "seed" in params and first_index:
        params["seed"] = (params["seed"] + first_index) % 2**32
    return RawRequest(
        request.messages, request.prompt, params, n, request.response_schema, request.schema_name
    )


def estimate_tokens(request: RawRequest) -> int:
    """A rough prompt size (4 characters a token) for budget checks before sending."""
    text = request.prompt if request.prompt is not None else "".join(m["content"] for m in request.messages)
    return len(text) // 4 + 4 * len(request.messages)


def check_input_size(config: EngineConfig, request: RawRequest) -> None:
    """Refuse a prompt that cannot fit, before anything is sent."""
    limit = config.max_input_chars
    if limit is None:
        limit = (
            config.context_size * CHARS_PER_TOKEN_BOUND if config.context_size else DEFAULT_MAX_INPUT_CHARS
        )
    size = (
        len(request.prompt)
        if request.prompt is not None
        else sum(len(m["content"]) for m in request.messages)
    )
    if size > limit:
        where = (
            f"{config.model_name}'s context of {config.context_size} tokens"
            if config.context_size
            else "nbllm's limit"
        )
        raise InvalidInputError(
            f"the input has {size:,} characters, more than {limit:,} ({where}); shorten it, or raise "
            "the LLM's max_input_chars if the model really takes that much."
        )


def cache_entry(text: str, stats: GenerationStats, reasoning: str | None = None) -> dict[str, Any]:
    """What the output cache stores for one finished generation (the thinking only where there
    was some, so entries of other models stay as they were)."""
    entry: dict[str, Any] = {
        "text": text,
        "stats": {
            "input_tokens": stats.input_tokens,
            "output_tokens": stats.output_tokens,
            "latency": stats.latency,
            "finish_reason": stats.finish_reason,
            "tokens_estimated": stats.tokens_estimated,
        },
    }
    if reasoning is not None or stats.reasoning_tokens:
        entry["reasoning"] = reasoning
        entry["stats"]["reasoning_tokens"] = stats.reasoning_tokens
        entry["stats"]["reasoning_estimated"] = stats.reasoning_estimated
    return entry


def cached_stats(entry: dict[str, Any]) -> GenerationStats:
    """The statistics of a cache entry, marked as a cache hit."""
    return GenerationStats(**{**entry["stats"], "cache_hit": True})


def build_request(
    config: EngineConfig, component: Component, params: dict[str, Any], schema: dict[str, Any] | None
) -> RawRequest:
    messages = component.format_for_llm()
    if schema is None and component.output_schema is not None:
        schema = schema_dict(component.output_schema)
    fn = config.prompt_formatting_fn
    request = RawRequest(
        messages=messages,
        prompt=fn(messages) if fn is not None else None,
        params=params,
        response_schema=schema,
        schema_name=schema_name(component.output_schema) if component.output_schema else "output",
    )
    check_input_size(config, request)
    return request


def sample_key(config: EngineConfig, request: RawRequest, sample_index: int) -> str:
    """The cache key of one sample: model, messages, prompt, params, schema and sample number."""
    body = {
        "messages": request.messages,
        "prompt": request.prompt,
        "params": request.params,
        "schema": request.response_schema,
    }
    return cache_key(config.identity, body, sample_index)


@dataclass
class Plan:
    """What a call would send, without sending it: its components, each sample's cache key
    (per component, per sample) and the merged parameters."""

    components: list[Component]
    keys: list[list[str]]
    params: dict[str, Any]


def plan(
    config: EngineConfig,
    components: list[Component],
    num_generations: int,
    params: dict[str, Any],
    schema: Any,
) -> Plan:
    keys = [
        [sample_key(config, build_request(config, c, params, schema), i) for i in range(num_generations)]
        for c in components
    ]
    return Plan(components, keys, params)

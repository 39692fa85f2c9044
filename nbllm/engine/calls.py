"""One raw call to the backend: under the engine's concurrency limit, within the budget and
the rate limit, retried on transient failures, with the resources it used measured.

Runs on the I/O loop. It only calls: storing the answers is the caller's next step, after the
concurrency slot is given back, so a slot is never held while a commit waits for SQLite.
"""

from __future__ import annotations

import asyncio
import time

from nbllm.core.outputs import GenerationStats
from nbllm.engine.requests import EngineConfig, RawGeneration, RawRequest, RetryPolicy, Sink, estimate_tokens
from nbllm.engine.streaming import stream_once
from nbllm.engine.usage import peak_memory_mb
from nbllm.errors import BackendError, NBLLMError, TransientBackendError


async def call(
    config: EngineConfig,
    request: RawRequest,
    slots: asyncio.Semaphore,
    retry: RetryPolicy,
    sink: Sink | None = None,
) -> tuple[list[RawGeneration], GenerationStats]:
    """The answers to `request` and the call's statistics; the last error if every attempt
    failed (with its `attempts`). A `sink` makes it a stream: it receives the text as it comes,
    and None when a retry starts over."""
    attempt = 0
    while True:
        attempt += 1
        async with slots:
            if config.rate_limiter is not None:
                await config.rate_limiter.acquire()
            hold = await reserve(config, request)
            cpu0, t0 = time.process_time(), time.perf_counter()
            try:
                pending = stream_once(config, request, sink) if sink is not None else config.raw_call(request)
                if retry.timeout is not None:
                    pending = asyncio.wait_for(pending, retry.timeout)
                results = await pending
                if not results:
                    raise BackendError("the backend returned no choices")
            except asyncio.TimeoutError:
                error: NBLLMError = TransientBackendError(f"the request timed out after {retry.timeout} s")
                spent: float | None = hold  # the provider may have worked on it: its hold counts as spent
            except NBLLMError as exc:
                error = exc
                spent = billed(config, request, exc)  # None: refused before an answer (a 429, a 5xx)
            except Exception as exc:  # a backend bug or an unexpected client error
                error = BackendError(f"{type(exc).__name__}: {exc}")
                spent = None
            except BaseException:
                if config.budget is not None:
                    config.budget.release(hold)
                raise
            else:
                latency = time.perf_counter() - t0
                used_in = results[0].input_tokens
                used_out = sum(r.output_tokens for r in results)
                if config.budget is not None:
                    thinking = sum(r.reasoning_tokens for r in results)
                    config.budget.settle(hold, used_in, used_out, thinking)
                if config.rate_limiter is not None:
                    config.rate_limiter.spend(used_in + used_out)
                return results, GenerationStats(
                    latency=latency,
                    cpu_time=time.process_time() - cpu0,
                    peak_memory_mb=peak_memory_mb(),
                    attempts=attempt,
                )
            if config.budget is not None:
                if spent is not None:
                    config.budget.charge(hold, spent)
                else:
                    config.budget.release(hold)
        if not isinstance(error, TransientBackendError) or attempt > retry.max_retries:
            error.attempts = attempt  # type: ignore[attr-defined]
            raise error
        await asyncio.sleep(retry.delay(attempt, error.retry_after))
        if sink is not None:
            sink(None)  # a new attempt starts: what the stream said so far may be said again


def billed(config: EngineConfig, request: RawRequest, error: NBLLMError) -> float | None:
    """What a failed attempt may have been billed (a cut stream: the prompt and the tokens
    received; a connection broken after sending: the prompt), estimated; None if nothing."""
    usage = getattr(error, "billed", None)
    if usage is None or config.budget is None:
        return None
    prompt, received = usage
    return config.budget.cost_of(prompt if prompt is not None else estimate_tokens(request), received)


async def reserve(config: EngineConfig, request: RawRequest) -> float:
    """Hold the worst-case cost of `request` on the budget (BudgetExceededError if it would
    cross max_cost); the hold, 0.0 without a budget. Without max_tokens the output is bounded
    by the backend's ceiling for this model, else by the budget's assumed_output_tokens."""
    budget = config.budget
    if budget is None:
        return 0.0
    max_out = request.params.get("max_tokens")
    if max_out is None and budget.max_cost is not None and config.output_ceiling is not None:
        try:
            max_out = await config.output_ceiling(request)
        except NBLLMError:
            max_out = None  # the request itself will meet (and report) what failed here
    if max_out is None:
        max_out = budget.assumed_output_tokens
    return budget.reserve(estimate_tokens(request), max_out * request.n)

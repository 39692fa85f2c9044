"""The one generate protocol. Backends implement a raw call; everything else happens here, once.

Order, fixed: merge options (model defaults < LLM params < call overrides) -> validate ->
format the component -> look up the output cache -> call the backend under the concurrency
limit (retrying transient failures) -> record statistics and a log entry -> store in the
cache -> evict. The result is one ModelOutputThunk per sample.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from nbllm.core.outputs import Generation, GenerationStats
from nbllm.core.params import GenerationParams
from nbllm.core.schema import OutputSchema, schema_dict, schema_name
from nbllm.engine import loop
from nbllm.engine.cache import OutputCache, cache_key
from nbllm.engine.components import Component
from nbllm.engine.log import EngineLog, LogEntry
from nbllm.engine.requests import (
    EngineConfig,
    EngineJob,
    RawCall,
    RawGeneration,
    RawRequest,
    RawStream,
    RetryPolicy,
    cacheable,
    estimate_tokens,
    with_sample,
)
from nbllm.engine.thunk import ModelOutputThunk
from nbllm.errors import (
    BackendError,
    NBLLMError,
    ParseError,
    TransientBackendError,
    UnsupportedParameterError,
)

__all__ = [
    "EngineConfig",
    "InferenceEngine",
    "RawCall",
    "RawGeneration",
    "RawRequest",
    "RawStream",
    "RetryPolicy",
]


class InferenceEngine:
    """Runs components through the protocol for one LLM; owns its cache, log and limits."""

    def __init__(
        self,
        cache: OutputCache | None,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
        on_generation: Callable[[Generation], None] | None = None,
    ) -> None:
        self.cache = cache
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.log = EngineLog()
        self.listeners: list[Callable[[Generation], None]] = [on_generation] if on_generation else []
        self.last_generation: Generation | None = None
        self._prepared: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- steps 1-2: merge and validate, synchronously, before anything is sent --------
    def prepare(
        self,
        config: EngineConfig,
        layers: list[dict[str, Any]],
        structured_output: OutputSchema | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        memo = json.dumps(
            [sorted(config.supported_params), config.default_params, layers], sort_keys=True, default=repr
        )
        if structured_output is None and memo in self._prepared:
            return self._prepared[memo]
        merged = GenerationParams.merge(config.default_params, *layers).set_values()
        unsupported = sorted(set(merged) - config.supported_params)
        if unsupported:
            raise UnsupportedParameterError(
                f"{config.model_name} does not support {', '.join(unsupported)}; "
                f"supported: {', '.join(sorted(config.supported_params))}.",
                unsupported[0],
            )
        schema = schema_dict(structured_output) if structured_output is not None else None
        if structured_output is None:
            if len(self._prepared) > 256:
                self._prepared.clear()
            self._prepared[memo] = (merged, None)
        return merged, schema

    def generate(
        self,
        config: EngineConfig,
        components: list[Component],
        num_generations: int,
        params: dict[str, Any],
        schema: dict[str, Any] | None = None,
        fresh: bool = False,
        sample_offset: int = 0,
    ) -> list[list[ModelOutputThunk]]:
        """Schedule `num_generations` samples of each component; returns their thunks at once.

        Samples are numbered from `sample_offset`, so several callers (a pool's members) can
        split one set of distinct samples between them.
        """
        jobs = []
        for component in components:
            request = self._request(config, component, params, schema)
            thunks = [ModelOutputThunk(component, sample_offset + i, params) for i in range(num_generations)]
            jobs.append(EngineJob(component, request, thunks))
        coro = self._process(config, jobs, fresh)
        if loop.in_io_thread():
            self._keep(asyncio.ensure_future(coro))
        else:
            loop.submit(coro)
        return [job.thunks for job in jobs]

    def _keep(self, task: asyncio.Future[Any]) -> asyncio.Future[Any]:
        """Hold a reference to a running task (the loop keeps only weak ones)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def _request(
        config: EngineConfig, component: Component, params: dict[str, Any], schema: dict[str, Any] | None
    ) -> RawRequest:
        messages = component.format_for_llm()
        if schema is None and component.output_schema is not None:
            schema = schema_dict(component.output_schema)
        fn = config.prompt_formatting_fn
        return RawRequest(
            messages=messages,
            prompt=fn(messages) if fn is not None else None,
            params=params,
            response_schema=schema,
            schema_name=schema_name(component.output_schema) if component.output_schema else "output",
        )

    # -- steps 3-8, on the I/O loop ----------------------------------------------------
    async def _process(self, config: EngineConfig, jobs: list[EngineJob], fresh: bool) -> None:
        """One cache lookup for the whole batch, then a task per component with misses."""
        try:
            self._dispatch(config, jobs, fresh)
        except Exception as exc:  # e.g. an unreadable cache file: fail the rows, never hang them
            error = BackendError(f"nbllm engine failure: {type(exc).__name__}: {exc}")
            for job in jobs:
                for thunk in job.thunks:
                    if not thunk._future.done():
                        self._fail(config, job.component, thunk, error, job.request)

    def _dispatch(self, config: EngineConfig, jobs: list[EngineJob], fresh: bool) -> None:
        use_cache = self.cache is not None
        keys: list[list[str]] = []
        for job in jobs:
            if use_cache:
                key_request = {
                    "messages": job.request.messages,
                    "prompt": job.request.prompt,
                    "params": job.request.params,
                    "schema": job.request.response_schema,
                }
                keys.append([cache_key(config.identity, key_request, t.sample_index) for t in job.thunks])
            else:
                keys.append([""] * len(job.thunks))
        hits = self.cache.get_many([k for ks in keys for k in ks]) if use_cache and not fresh else {}
        io = asyncio.get_running_loop()
        for job, job_keys in zip(jobs, keys):
            missing: list[tuple[ModelOutputThunk, str]] = []
            for thunk, key in zip(job.thunks, job_keys):
                if thunk._future.cancelled():
                    continue
                if key in hits:
                    stats = GenerationStats(**{**hits[key]["stats"], "cache_hit": True})
                    self._finish(config, job.component, thunk, hits[key]["text"], stats, job.request)
                else:
                    missing.append((thunk, key))
            if missing:
                task = self._keep(io.create_task(self._generate_guarded(config, job, missing)))
                for thunk, _ in missing:
                    thunk._task = task

    async def _generate_guarded(
        self, config: EngineConfig, job: EngineJob, missing: list[tuple[ModelOutputThunk, str]]
    ) -> None:
        try:
            await self._generate_missing(config, job.component, job.request, missing)
        finally:  # cancelled or crashed: no thunk may wait forever
            for thunk, _ in missing:
                if not thunk._future.done():
                    thunk._future.cancel()

    async def _generate_missing(
        self,
        config: EngineConfig,
        component: Component,
        request: RawRequest,
        missing: list[tuple[ModelOutputThunk, str]],
    ) -> None:
        first = missing[0][0].sample_index
        if config.supports_n and len(missing) > 1:
            call = with_sample(request, first, len(missing))
            try:
                results, stats = await self._call(config, call)
            except NBLLMError as exc:
                for thunk, _ in missing:
                    self._fail(config, component, thunk, exc, request)
                return
            for (thunk, key), raw in zip(missing, results):
                self._store(config, component, thunk, key, raw, stats, request)
            missing = missing[len(results) :]
        # One call per remaining sample, each with its own seed so samples stay distinct.
        if len(missing) == 1:
            await self._one(config, component, request, *missing[0])
        else:
            await asyncio.gather(
                *(self._one(config, component, request, thunk, key) for thunk, key in missing)
            )

    async def _one(
        self,
        config: EngineConfig,
        component: Component,
        request: RawRequest,
        thunk: ModelOutputThunk,
        key: str,
    ) -> None:
        try:
            results, stats = await self._call(config, with_sample(request, thunk.sample_index, 1))
        except NBLLMError as exc:
            self._fail(config, component, thunk, exc, request)
            return
        self._store(config, component, thunk, key, results[0], stats, request)

    async def _call(
        self, config: EngineConfig, request: RawRequest
    ) -> tuple[list[RawGeneration], GenerationStats]:
        """The backend call under the concurrency limit, with retries and resource use."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        attempt = 0
        while True:
            attempt += 1
            async with self._semaphore:
                if config.rate_limiter is not None:
                    await config.rate_limiter.acquire()
                if config.budget is not None:
                    config.budget.check(
                        estimate_tokens(request), request.params.get("max_tokens", 256) * request.n
                    )
                cpu0, t0 = time.process_time(), time.perf_counter()
                try:
                    coro = config.raw_call(request)
                    if self.retry.timeout is not None:
                        coro = asyncio.wait_for(coro, self.retry.timeout)
                    results = await coro
                except asyncio.TimeoutError:
                    error: NBLLMError = TransientBackendError(
                        f"request timed out after {self.retry.timeout} s"
                    )
                except NBLLMError as exc:
                    error = exc
                except Exception as exc:  # a backend bug or an unexpected client error
                    error = BackendError(f"{type(exc).__name__}: {exc}")
                else:
                    latency = time.perf_counter() - t0
                    if not results:
                        raise BackendError("the backend returned no choices")
                    used_out = sum(r.output_tokens for r in results)
                    if config.budget is not None:
                        config.budget.spend(results[0].input_tokens, used_out)
                    if config.rate_limiter is not None:
                        config.rate_limiter.spend(results[0].input_tokens + used_out)
                    stats = GenerationStats(
                        latency=latency,
                        cpu_time=time.process_time() - cpu0,
                        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        attempts=attempt,
                    )
                    return results, stats
            if not isinstance(error, TransientBackendError) or attempt > self.retry.max_retries:
                error.attempts = attempt  # type: ignore[attr-defined]
                raise error
            await asyncio.sleep(self.retry.delay(attempt, error.retry_after))

    # -- streaming -------------------------------------------------------------------------
    async def stream(
        self, config: EngineConfig, component: Component, params: dict[str, Any], fresh: bool = False
    ) -> AsyncIterator[str]:
        """Text deltas of one sample as the backend produces them, through the same protocol:
        a cache hit streams the cached text at once; the finished text is recorded and cached."""
        from nbllm.errors import UsageError

        request = self._request(config, component, params, None)
        thunk = ModelOutputThunk(component, 0, params)
        key = ""
        if self.cache is not None:
            key_request = {
                "messages": request.messages,
                "prompt": request.prompt,
                "params": params,
                "schema": None,
            }
            key = cache_key(config.identity, key_request, 0)
            hit = None if fresh else self.cache.get(key)
            if hit is not None:
                stats = GenerationStats(**{**hit["stats"], "cache_hit": True})
                self._finish(config, component, thunk, hit["text"], stats, request)
                yield hit["text"]
                return
        if config.raw_stream is None:
            raise UsageError(f"{config.model_name} cannot stream; use generate instead.")
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        pieces: list[str] = []
        final: RawGeneration | None = None
        async with self._semaphore:
            if config.budget is not None:
                config.budget.check(estimate_tokens(request), params.get("max_tokens", 256))
            cpu0, t0 = time.process_time(), time.perf_counter()
            async for item in config.raw_stream(request):
                if isinstance(item, RawGeneration):
                    final = item
                elif item:
                    pieces.append(item)
                    yield item
            latency = time.perf_counter() - t0
        text = "".join(pieces)
        raw = RawGeneration(
            text,
            final.input_tokens if final else 0,
            final.output_tokens if final else len(pieces),
            final.finish_reason if final else "stop",
        )
        if config.budget is not None:
            config.budget.spend(raw.input_tokens, raw.output_tokens)
        call_stats = GenerationStats(
            latency=latency,
            cpu_time=time.process_time() - cpu0,
            peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        self._store(config, component, thunk, key, raw, call_stats, request)

    # -- recording -------------------------------------------------------------------------
    def _store(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        key: str,
        raw: RawGeneration,
        call_stats: GenerationStats,
        request: RawRequest,
    ) -> None:
        stats = GenerationStats(
            input_tokens=raw.input_tokens,
            output_tokens=raw.output_tokens,
            latency=call_stats.latency,
            finish_reason=raw.finish_reason,
            cpu_time=call_stats.cpu_time,
            peak_memory_mb=call_stats.peak_memory_mb,
            attempts=call_stats.attempts,
        )
        if self.cache is not None and key:
            self.cache.put(key, {"text": raw.text, "stats": cacheable(stats)})
        self._finish(config, component, thunk, raw.text, stats, request)

    def _finish(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        text: str,
        stats: GenerationStats,
        request: RawRequest,
    ) -> None:
        generation = Generation(text=text, stats=stats, sample_index=thunk.sample_index)
        try:
            generation.parsed = component.parse_output(text)
        except ParseError as exc:
            generation.error = exc
        self._record(config, component, thunk, generation, request)

    def _fail(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        error: NBLLMError,
        request: RawRequest,
    ) -> None:
        stats = GenerationStats(attempts=getattr(error, "attempts", 1))
        generation = Generation(text=None, stats=stats, sample_index=thunk.sample_index, error=error)
        self._record(config, component, thunk, generation, request)

    def _record(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        generation: Generation,
        request: RawRequest,
    ) -> None:
        s = generation.stats
        self.log.record(
            LogEntry(
                component_id=component.component_id,
                sample_index=thunk.sample_index,
                model=config.model_name,
                params=request.params,
                cache_hit=s.cache_hit,
                latency=s.latency,
                input_tokens=s.input_tokens,
                output_tokens=s.output_tokens,
                error=str(generation.error) if generation.error else None,
            )
        )
        self.last_generation = generation
        for listener in self.listeners:
            listener(generation)
        thunk._resolve(generation)

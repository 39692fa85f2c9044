"""The one generate protocol. Backends implement a raw call; everything else happens here, once.

Order, fixed: merge options (model defaults < LLM params < call overrides) -> validate ->
format the component -> look up the output cache -> call the backend under the concurrency
limit (retrying transient failures) -> record statistics and a log entry -> store in the
cache -> evict. The result is one ModelOutputThunk per sample. Streaming and offline batches
take the same path: a stream is a raw call that also reports its text as it arrives, a batch
is one raw call for all the samples the cache did not have.

Nothing here blocks the I/O loop: cache reads run in a worker thread, writes on the cache's
writer thread, and user callbacks (listeners) on nbllm's callback thread.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nbllm.core.outputs import Generation, GenerationStats
from nbllm.core.params import GenerationParams
from nbllm.core.schema import OutputSchema, schema_dict
from nbllm.engine import callbacks, loop
from nbllm.engine.cache import OutputCache
from nbllm.engine.cache_writer import CacheWriter
from nbllm.engine.components import Component
from nbllm.engine.log import EngineLog
from nbllm.engine.recording import Recorder
from nbllm.engine.requests import (
    EngineConfig,
    EngineJob,
    RawCall,
    RawGeneration,
    RawRequest,
    RawStream,
    RetryPolicy,
    Sink,
    build_request,
    cached_stats,
    estimate_tokens,
    sample_key,
    with_sample,
)
from nbllm.engine.streaming import stream_once, stream_text
from nbllm.engine.thunk import EngineWork, ModelOutputThunk
from nbllm.engine.usage import peak_memory_mb
from nbllm.errors import (
    BackendError,
    BudgetExceededError,
    CacheError,
    InvalidParameterError,
    NBLLMError,
    TransientBackendError,
    UnsupportedParameterError,
    UsageError,
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

Missing = list[tuple[ModelOutputThunk, str]]


class InferenceEngine:
    """Runs components through the protocol for one LLM; owns its cache, log and limits."""

    def __init__(
        self,
        cache: OutputCache | None,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
        on_generation: Callable[[Generation], None] | None = None,
    ) -> None:
        self.recorder = Recorder()
        if on_generation is not None:
            self.recorder.listeners.append(on_generation)
        self._prepared: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self.configure(cache=cache, concurrency=concurrency, retry=retry or RetryPolicy())

    def configure(
        self,
        *,
        cache: OutputCache | bool | None = True,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Change settings in place; listeners, the log and its file stay as they are.

        ``cache=True`` (the default) keeps the current cache; None or an OutputCache replaces it.
        """
        if cache is not True:
            self.cache = cache if isinstance(cache, OutputCache) else None
            self.recorder.writer = CacheWriter(self.cache) if self.cache is not None else None
        if concurrency is not None:
            self.concurrency = concurrency
            self._semaphore: asyncio.Semaphore | None = None  # made again, on the loop, when next needed
        if retry is not None:
            self.retry = retry

    @property
    def log(self) -> EngineLog:
        return self.recorder.log

    @property
    def listeners(self) -> list[Callable[[Generation], None]]:
        """Called with every Generation, on nbllm's callback thread."""
        return self.recorder.listeners

    @property
    def last_generation(self) -> Generation | None:
        return self.recorder.last_generation

    # -- steps 1-2: merge and validate, synchronously, before anything is sent --------
    def prepare(
        self,
        config: EngineConfig,
        layers: list[dict[str, Any]],
        structured_output: OutputSchema | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        memo = json.dumps(
            [sorted(config.supported_params), config.default_params, config.context_size, layers],
            sort_keys=True,
            default=repr,
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
        if config.context_size and merged.get("max_tokens", 0) >= config.context_size:
            raise InvalidParameterError(
                f"max_tokens={merged['max_tokens']} does not fit {config.model_name}'s context of "
                f"{config.context_size} tokens (prompt included); lower max_tokens.",
                "max_tokens",
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
        sink: Sink | None = None,
    ) -> list[list[ModelOutputThunk]]:
        """Schedule `num_generations` samples of each component; returns their thunks at once.

        Samples are numbered from `sample_offset`, so several callers (a pool's members) can
        split one set of distinct samples between them. A `sink` receives a stream's text.
        """
        jobs = []
        for component in components:
            request = build_request(config, component, params, schema)
            thunks = [ModelOutputThunk(component, sample_offset + i, params) for i in range(num_generations)]
            jobs.append(EngineJob(component, request, thunks))
        coro = self._process(config, jobs, fresh, sink)
        if loop.in_io_thread():
            self._keep(asyncio.ensure_future(coro))
        else:
            loop.submit(coro)
        return [job.thunks for job in jobs]

    def stream(
        self, config: EngineConfig, component: Component, params: dict[str, Any], fresh: bool = False
    ) -> AsyncIterator[str]:
        """Text deltas of one sample as the backend produces them, through the same protocol
        as generate: cache, retries, budget, statistics and log. Iterate it on the I/O loop."""
        if config.raw_stream is None:
            raise UsageError(f"{config.model_name} cannot stream; use generate instead.")
        build_request(config, component, params, None)  # bad input fails here, before anything starts
        return stream_text(lambda sink: self.generate(config, [component], 1, params, None, fresh, 0, sink))

    def _keep(self, task: asyncio.Future[Any]) -> asyncio.Future[Any]:
        """Hold a reference to a running task (the loop keeps only weak ones)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- steps 3-8, on the I/O loop ----------------------------------------------------
    async def _process(
        self, config: EngineConfig, jobs: list[EngineJob], fresh: bool, sink: Sink | None = None
    ) -> None:
        """One cache lookup for the whole batch, then the calls for what it did not have."""
        try:
            await self._dispatch(config, jobs, fresh, sink)
        except Exception as exc:  # an engine bug must fail the rows, never hang them
            error = BackendError(f"nbllm engine failure: {type(exc).__name__}: {exc}")
            for job in jobs:
                for thunk in job.thunks:
                    if not thunk._future.done():
                        self.recorder.fail(config, job.component, thunk, error, job.request)

    async def _dispatch(
        self, config: EngineConfig, jobs: list[EngineJob], fresh: bool, sink: Sink | None
    ) -> None:
        cache = self.cache
        keyed = cache is not None or config.raw_batch is not None  # a batch matches answers by key
        keys = [
            [sample_key(config, job.request, t.sample_index) if keyed else "" for t in job.thunks]
            for job in jobs
        ]
        hits: dict[str, dict[str, Any]] = {}
        if cache is not None and not fresh:
            try:
                hits = await asyncio.to_thread(cache.get_many, [k for ks in keys for k in ks], False)
            except CacheError as exc:
                callbacks.report(f"the cache lookup failed, so everything is generated anew: {exc}")
            if hits and self.recorder.writer is not None:
                self.recorder.writer.touch(hits)
        pending: list[tuple[EngineJob, Missing]] = []
        for job, job_keys in zip(jobs, keys):
            missing: Missing = []
            for thunk, key in zip(job.thunks, job_keys):
                if thunk._future.cancelled():
                    continue
                if key in hits:
                    hit = hits[key]
                    self.recorder.finish(
                        config, job.component, thunk, hit["text"], cached_stats(hit), job.request
                    )
                else:
                    missing.append((thunk, key))
            if missing:
                pending.append((job, missing))
        if not pending:
            return
        io = asyncio.get_running_loop()
        if config.raw_batch is not None:
            task = self._keep(
                io.create_task(self._guarded(config, pending, self._generate_batch(config, pending)))
            )
            EngineWork(task, [thunk for _, missing in pending for thunk, _ in missing])
            return
        for job, missing in pending:
            work = self._generate_missing(config, job.component, job.request, missing, sink)
            task = self._keep(io.create_task(self._guarded(config, [(job, missing)], work)))
            EngineWork(task, [thunk for thunk, _ in missing])

    async def _guarded(
        self, config: EngineConfig, pending: list[tuple[EngineJob, Missing]], work: Any
    ) -> None:
        try:
            await work
        except Exception as exc:  # an engine bug: fail what is left rather than hang it
            error = BackendError(f"nbllm engine failure: {type(exc).__name__}: {exc}")
            for job, missing in pending:
                for thunk, _ in missing:
                    if not thunk._future.done():
                        self.recorder.fail(config, job.component, thunk, error, job.request)
        finally:  # cancelled: no thunk may wait forever
            for _, missing in pending:
                for thunk, _ in missing:
                    if not thunk._future.done():
                        thunk._future.cancel()

    async def _generate_missing(
        self,
        config: EngineConfig,
        component: Component,
        request: RawRequest,
        missing: Missing,
        sink: Sink | None,
    ) -> None:
        first = missing[0][0].sample_index
        if config.supports_n and len(missing) > 1 and sink is None:
            call = with_sample(request, first, len(missing))

            async def store_all(results: list[RawGeneration], stats: GenerationStats) -> None:
                done = list(zip(missing, results))
                await asyncio.gather(
                    *(
                        self.recorder.store(config, component, t, k, raw, stats, request)
                        for (t, k), raw in done
                    )
                )

            try:
                results, _ = await self._call(config, call, after=store_all)
            except NBLLMError as exc:
                for thunk, _ in missing:
                    self.recorder.fail(config, component, thunk, exc, request)
                return
            missing = missing[len(results) :]
        # One call per remaining sample, each with its own seed so samples stay distinct.
        if len(missing) == 1:
            await self._one(config, component, request, *missing[0], sink)
        elif missing:
            await asyncio.gather(*(self._one(config, component, request, t, k, None) for t, k in missing))

    async def _one(
        self,
        config: EngineConfig,
        component: Component,
        request: RawRequest,
        thunk: ModelOutputThunk,
        key: str,
        sink: Sink | None,
    ) -> None:
        async def store(results: list[RawGeneration], stats: GenerationStats) -> None:
            await self.recorder.store(config, component, thunk, key, results[0], stats, request)

        try:
            await self._call(config, with_sample(request, thunk.sample_index, 1), sink, after=store)
        except NBLLMError as exc:
            self.recorder.fail(config, component, thunk, exc, request)

    async def _generate_batch(self, config: EngineConfig, pending: list[tuple[EngineJob, Missing]]) -> None:
        """Every missing sample in one raw batch call; answers are matched by their cache key."""
        assert config.raw_batch is not None
        samples = []
        held: dict[str, float] = {}  # one request per key: a prompt repeated in the call is sent once
        for job, missing in pending:  # the budget holds every request before the batch is sent
            for thunk, key in missing:
                if key not in held:
                    try:
                        held[key] = await reserve(config, with_sample(job.request, thunk.sample_index, 1))
                    except BudgetExceededError as exc:
                        self.recorder.fail(config, job.component, thunk, exc, job.request)
                        continue
                samples.append((job, thunk, key))
        work = [(key, with_sample(job.request, thunk.sample_index, 1)) for job, thunk, key in samples]
        t0 = time.perf_counter()
        try:
            answers = await config.raw_batch(work) if work else {}
        except NBLLMError as exc:
            answers = dict.fromkeys((key for key, _ in work), exc)
        finally:
            if config.budget is not None:
                config.budget.release(sum(held.values()))  # replaced below by what each answer cost
        latency = time.perf_counter() - t0
        stores = []
        paid: set[str] = set()
        for job, thunk, key in samples:
            answer = answers.get(key) or BackendError(f"the batch returned no answer for sample {key[:12]}")
            if isinstance(answer, NBLLMError):
                self.recorder.fail(config, job.component, thunk, answer, job.request)
                continue
            if config.budget is not None and key not in paid:
                paid.add(key)
                config.budget.spend(answer.input_tokens, answer.output_tokens)
            stats = GenerationStats(latency=latency)
            stores.append(self.recorder.store(config, job.component, thunk, key, answer, stats, job.request))
        await asyncio.gather(*stores)

    async def _call(
        self,
        config: EngineConfig,
        request: RawRequest,
        sink: Sink | None = None,
        after: Callable[[list[RawGeneration], GenerationStats], Awaitable[None]] | None = None,
    ) -> tuple[list[RawGeneration], GenerationStats]:
        """The backend call under the concurrency limit, with retries, budget and resource use.

        `after` (storing the answers) runs before the concurrency slot is given back, so at
        most `concurrency` answers are ever unstored: a crash loses at most the requests in
        flight."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        attempt = 0
        while True:
            attempt += 1
            async with self._semaphore:
                if config.rate_limiter is not None:
                    await config.rate_limiter.acquire()
                hold = await reserve(config, request)
                cpu0, t0 = time.process_time(), time.perf_counter()
                try:
                    call = (
                        stream_once(config, request, sink) if sink is not None else config.raw_call(request)
                    )
                    if self.retry.timeout is not None:
                        call = asyncio.wait_for(call, self.retry.timeout)
                    results = await call
                    if not results:
                        raise BackendError("the backend returned no choices")
                except asyncio.TimeoutError:
                    error: NBLLMError = TransientBackendError(
                        f"the request timed out after {self.retry.timeout} s"
                    )
                except NBLLMError as exc:
                    error = exc
                except Exception as exc:  # a backend bug or an unexpected client error
                    error = BackendError(f"{type(exc).__name__}: {exc}")
                except BaseException:
                    if config.budget is not None:
                        config.budget.release(hold)
                    raise
                else:
                    latency = time.perf_counter() - t0
                    used_in = results[0].input_tokens
                    used_out = sum(r.output_tokens for r in results)
                    if config.budget is not None:
                        config.budget.settle(hold, used_in, used_out)
                    if config.rate_limiter is not None:
                        config.rate_limiter.spend(used_in + used_out)
                    stats = GenerationStats(
                        latency=latency,
                        cpu_time=time.process_time() - cpu0,
                        peak_memory_mb=peak_memory_mb(),
                        attempts=attempt,
                    )
                    if after is not None:
                        await after(results, stats)
                    return results, stats
                if config.budget is not None:
                    config.budget.release(hold)
            if not isinstance(error, TransientBackendError) or attempt > self.retry.max_retries:
                error.attempts = attempt  # type: ignore[attr-defined]
                raise error
            await asyncio.sleep(self.retry.delay(attempt, error.retry_after))
            if sink is not None:
                sink(None)  # a new attempt starts: what the stream said so far may be said again


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

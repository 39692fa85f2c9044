"""The one generate protocol. Backends implement a raw call; everything else happens here, once.

Order, fixed: merge options (model defaults < LLM params < call overrides) -> validate ->
format the component -> look up the output cache -> call the backend under the concurrency
limit (retrying transient failures) -> record statistics and a log entry -> store in the
cache -> evict. The result is one ModelOutputThunk per sample. Streaming and offline batches
take the same path: a stream is a raw call that also reports its text as it arrives, a batch
is one raw call for all the samples the cache did not have. The raw call itself (limit,
retries, budget) is in calls.py, the offline batch in batch.py.

Nothing here blocks the I/O loop: cache reads run in a worker thread, writes on the cache's
writer thread, and user callbacks (listeners) on nbllm's callback thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from nbllm.core.outputs import Generation, GenerationStats
from nbllm.core.params import GenerationParams
from nbllm.core.schema import OutputSchema, schema_dict
from nbllm.engine import callbacks, calls, loop
from nbllm.engine import sessions as replay
from nbllm.engine.batch import Missing, generate_batch
from nbllm.engine.cache import OutputCache
from nbllm.engine.cache_writer import CacheWriter
from nbllm.engine.calls import reserve
from nbllm.engine.components import Component
from nbllm.engine.log import EngineLog
from nbllm.engine.outcomes import Recorder
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
    sample_key,
    with_sample,
)
from nbllm.engine.streaming import stream_text
from nbllm.engine.thunk import EngineWork, ModelOutputThunk
from nbllm.errors import (
    BackendError,
    CacheError,
    InvalidParameterError,
    NBLLMError,
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
    "reserve",
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
            merged, schema = self._prepared[memo]
            if config.check_params is not None:
                config.check_params(merged)  # what the model takes may have been learnt since
            return merged, schema
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
        if config.check_params is not None:
            config.check_params(merged)
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
        self,
        config: EngineConfig,
        component: Component,
        params: dict[str, Any],
        fresh: bool = False,
        thinking: bool = False,
    ) -> AsyncIterator[str]:
        """Text deltas of one sample as the backend produces them, through the same protocol
        as generate: cache, retries, budget, statistics and log. Iterate it on the I/O loop.
        With `thinking`, a reasoning model's thinking comes too, as ReasoningDelta pieces."""
        if config.raw_stream is None:
            raise UsageError(f"{config.model_name} cannot stream; use generate instead.")
        build_request(config, component, params, None)  # bad input fails here, before anything starts
        return stream_text(
            lambda sink: self.generate(config, [component], 1, params, None, fresh, 0, sink), thinking
        )

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
        session = replay.active()
        if session is not None and session.mode == "replay":
            if not session.serving:
                fresh = True  # compared with the recording: a live answer, never the cache's
            else:
                left = session.serve(self.recorder, config, jobs)
                if left is None:
                    return
                # the fallback's answers are not cached, and arrive whole (as a cache hit does)
                (config, jobs), cache, sink = left, None, None
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
                        config,
                        job.component,
                        thunk,
                        hit["text"],
                        cached_stats(hit),
                        job.request,
                        reasoning=hit.get("reasoning"),
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
                io.create_task(self._guarded(config, pending, generate_batch(config, self.recorder, pending)))
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
            try:
                results, stats = await self._call(config, with_sample(request, first, len(missing)))
                await asyncio.gather(
                    *(
                        self.recorder.store(config, component, t, k, raw, stats, request)
                        for (t, k), raw in zip(missing, results)
                    )
                )
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
        try:
            results, stats = await self._call(config, with_sample(request, thunk.sample_index, 1), sink)
            await self.recorder.store(config, component, thunk, key, results[0], stats, request)
        except NBLLMError as exc:
            self.recorder.fail(config, component, thunk, exc, request)

    async def _call(
        self, config: EngineConfig, request: RawRequest, sink: Sink | None = None
    ) -> tuple[list[RawGeneration], GenerationStats]:
        """The raw call under this engine's concurrency limit and retry policy (see calls.call).

        The slot is given back as soon as the backend answered; the caller then stores the
        answers, and a thunk resolves only once its answer is committed to the cache."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return await calls.call(config, request, self._semaphore, self.retry, sink)

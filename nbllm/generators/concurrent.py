"""The concurrent generators: several runs or inputs at once, sequentially, or in threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nbllm.core.results import RunResult
from nbllm.engine.ratelimit import RateLimiter
from nbllm.errors import InvalidInputError
from nbllm.generators.base import BaseGenerator, Progress, as_batch, check_runs
from nbllm.generators.jobs import Job, JobSettings


class AsyncGenerator(BaseGenerator):
    """Runs the job `num_runs` times concurrently for one input (a list of RunResults); for a
    list of inputs, all inputs concurrently, `num_runs` each (a list of lists)."""

    name = "AsyncGenerator"
    description = "Runs the job num_runs times concurrently; a list of inputs all at once."

    def __init__(self, job: Job, llm: Any = None, *, num_runs: int = 1, **options: Any) -> None:
        super().__init__(job, llm, **options)
        self.num_runs = check_runs(num_runs)

    async def agenerate(self, inputs: Any, **params: Any) -> list[RunResult] | list[list[RunResult]]:
        values, single = as_batch(inputs)
        calls = self.job_calls(values)
        progress = Progress(len(calls) * self.num_runs, self.progress_callback)
        results = await self._run_many(calls, self.num_runs, progress, params)
        return results[0] if single else results


class SequentialAsyncGenerator(BaseGenerator):
    """Inputs one after another, each with `num_runs` concurrent runs; one list per input."""

    name = "SequentialAsyncGenerator"
    description = "Inputs one after another, each input's num_runs runs concurrently."

    def __init__(
        self, job: Job, llm: Any = None, *, num_runs: int = 1, variant: str | None = None, **options: Any
    ) -> None:
        super().__init__(job, llm, **options)
        self.num_runs = check_runs(num_runs)
        self.variant = variant

    async def agenerate(self, inputs: Any, **params: Any) -> list[list[RunResult]]:
        values, _ = as_batch(inputs)
        calls = self.job_calls(values)
        progress = Progress(len(calls) * self.num_runs, self.progress_callback)
        results = []
        for i, call in enumerate(calls):
            results.append(await self._run(call, i, self.num_runs, progress, params, self.variant))
        return results


class SequentialAsyncGenerator2(BaseGenerator):
    """The faster variant: every input and run at once, but never more than `max_concurrency`
    in flight and at most `requests_per_minute` started, so it does not flood an endpoint."""

    name = "SequentialAsyncGenerator2"
    description = "All inputs and runs at once, under a concurrency limit and a rate limit."

    def __init__(
        self,
        job: Job,
        llm: Any = None,
        *,
        num_runs: int = 1,
        max_concurrency: int = 16,
        requests_per_minute: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(job, llm, **options)
        self.num_runs = check_runs(num_runs)
        self.max_concurrency = check_runs(max_concurrency, "max_concurrency")
        self.requests_per_minute = requests_per_minute

    async def agenerate(self, inputs: Any, **params: Any) -> list[list[RunResult]]:
        values, _ = as_batch(inputs)
        calls = self.job_calls(values)
        progress = Progress(len(calls) * self.num_runs, self.progress_callback)
        if self.requests_per_minute is None and self.max_concurrency >= getattr(self.llm, "concurrency", 0):
            # The LLM's own limit is the tighter one: hand everything to its engine at once.
            return list(await self._run_many(calls, self.num_runs, progress, params))
        limit = asyncio.Semaphore(self.max_concurrency)
        limiter = RateLimiter(self.requests_per_minute)

        async def one(i: int, run: int) -> RunResult:
            async with limit:
                await limiter.acquire()
                (result,) = await self._run(calls[i], i, 1, progress, params, sample_offset=run)
                return result

        flat = await asyncio.gather(*(one(i, r) for i in range(len(calls)) for r in range(self.num_runs)))
        return [list(flat[i * self.num_runs : (i + 1) * self.num_runs]) for i in range(len(calls))]


class MultiThreadingAsyncGenerator(BaseGenerator):
    """One worker thread per job-settings variant, each running SequentialAsyncGenerator over
    all inputs. Input-first like every generator: per input, one run list per variant, in the
    order of `job_settings` (``results[input][variant][run]``)."""

    name = "MultiThreadingAsyncGenerator"
    description = "One thread per job-settings variant, each running the sequential generator."

    def __init__(
        self, job: Job, llm: Any = None, *, job_settings: list[JobSettings], num_runs: int = 1, **options: Any
    ) -> None:
        super().__init__(job, llm, **options)
        if not job_settings:
            raise InvalidInputError("MultiThreadingAsyncGenerator needs at least one JobSettings variant.")
        self.job_settings = list(job_settings)
        self.num_runs = check_runs(num_runs)

    async def agenerate(self, inputs: Any, **params: Any) -> list[list[list[RunResult]]]:
        values, _ = as_batch(inputs)
        for settings in self.job_settings:  # validate every variant's inputs before any thread starts
            self.job_calls(values, self.job.with_settings(settings))
        total = len(values) * self.num_runs * len(self.job_settings)
        progress = Progress(total, self.progress_callback)

        started: list[concurrent.futures.Future[Any]] = []
        cancelled = threading.Event()
        lock = threading.Lock()

        def worker(settings: JobSettings) -> list[list[RunResult]]:
            sequential = SequentialAsyncGenerator(
                self.job.with_settings(settings),
                self.llm,
                num_runs=self.num_runs,
                variant=settings.name,
                progress_callback=lambda *_: progress.tick(),
                fresh=self.fresh,
                **self.params,
            )
            with lock:
                if cancelled.is_set():
                    raise concurrent.futures.CancelledError()
                future = sequential.submit(values, **params)
                started.append(future)
            runs = future.result()
            for per_input in runs:  # labelled as this generator's rows, each with its variant
                for run in per_input:
                    run.generator = self.name
            return runs

        io = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=len(self.job_settings), thread_name_prefix="nbllm-variant")
        try:
            by_variant = await asyncio.gather(
                *(io.run_in_executor(pool, worker, s) for s in self.job_settings)
            )
            return [[runs[i] for runs in by_variant] for i in range(len(values))]
        except BaseException:
            with lock:  # cancelled, or a variant failed: stop every variant's requests
                cancelled.set()
                for future in started:
                    future.cancel()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # waiting here would block the I/O loop

"""The offline-batch path: every sample the cache did not have goes to the backend in one raw
batch call, and each answer is matched back to its sample by cache key.

Runs on the I/O loop, as a task the engine starts for a backend with a raw batch call.
"""

from __future__ import annotations

import asyncio
import time

from nbllm.core.outputs import GenerationStats
from nbllm.engine.calls import reserve
from nbllm.engine.outcomes import Recorder
from nbllm.engine.requests import EngineConfig, EngineJob, with_sample
from nbllm.engine.thunk import ModelOutputThunk
from nbllm.errors import BackendError, BudgetExceededError, NBLLMError

Missing = list[tuple[ModelOutputThunk, str]]  # a job's samples the cache did not have, with their keys


async def generate_batch(
    config: EngineConfig, recorder: Recorder, pending: list[tuple[EngineJob, Missing]]
) -> None:
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
                    recorder.fail(config, job.component, thunk, exc, job.request)
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
            recorder.fail(config, job.component, thunk, answer, job.request)
            continue
        if config.budget is not None and key not in paid:
            paid.add(key)
            config.budget.spend(answer.input_tokens, answer.output_tokens, answer.reasoning_tokens)
        stats = GenerationStats(latency=latency)
        stores.append(recorder.store(config, job.component, thunk, key, answer, stats, job.request))
    await asyncio.gather(*stores)

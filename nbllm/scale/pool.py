"""LLMPool: the seed's split rule over members in other processes (ProcessLLM) or on Ray.

Runs on the caller's thread; members' Futures resolve on their own bridge threads.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from nbllm.core.messages import to_batch
from nbllm.core.outputs import GenerateOutput, GenerateOutputs, Generation
from nbllm.errors import BackendError, UsageError


def split_generations(num_generations: int, num_llms: int, rng: random.Random | None = None) -> list[int]:
    """How many generations each LLM makes (distilabel's LLMPool rule).

    Fewer than LLMs: that many LLMs, chosen at random, make one each. Equal: one each. More:
    ``num_generations // num_llms`` each and the remainder to randomly chosen LLMs.
    """
    if num_llms < 1 or num_generations < 1:
        raise UsageError("split_generations needs at least one LLM and one generation.")
    rng = rng or random.Random()
    counts = [num_generations // num_llms] * num_llms
    for index in rng.sample(range(num_llms), num_generations % num_llms):
        counts[index] += 1
    return counts


@runtime_checkable
class PoolMember(Protocol):
    """What a pool schedules over: an LLM living elsewhere whose ``generate`` returns a Future
    (ProcessLLM, RayLLM). A member may also offer ``restart()`` and ``run_generator``."""

    @property
    def model_name(self) -> str: ...

    def generate(
        self, inputs: Any, num_generations: int = 1, **options: Any
    ) -> concurrent.futures.Future[list[GenerateOutput]]: ...

    def teardown(self) -> None: ...


class LLMPool:
    """Several pool members (ProcessLLMs, or RayLLMs on a Ray cluster) generating in parallel;
    results merged per input."""

    def __init__(self, llms: Sequence[Any], seed: int | None = None) -> None:
        if not llms or not all(isinstance(llm, PoolMember) for llm in llms):
            raise UsageError(
                "LLMPool needs a non-empty list of pool members: ProcessLLM or RayLLM (an LLM in "
                "this process has no Future-returning generate; wrap its load function in ProcessLLM)."
            )
        self.llms = list(llms)
        self._rng = random.Random(seed)

    @classmethod
    def on_ray(
        cls,
        load_llm_fn: Callable[[], Any],
        num_replicas: int = 2,
        num_cpus: float = 1,
        address: str | None = None,
        seed: int | None = None,
    ) -> LLMPool:
        """A pool of `num_replicas` Ray actors, each loading its LLM once with `load_llm_fn`
        where it lives. Joins the Ray cluster at `address` ("auto", "ray://head:10001"), or
        starts a local one; needs ``pip install "nbllm[ray]"``."""
        from nbllm.scale.ray_llm import RayLLM, connect

        if num_replicas < 1:
            raise UsageError("num_replicas must be at least 1.")
        connect(address)
        return cls([RayLLM(load_llm_fn, num_cpus=num_cpus) for _ in range(num_replicas)], seed=seed)

    def generate_frame(
        self,
        frame: Any,
        column: str = "prompt",
        num_generations: int = 1,
        *,
        chunk_size: int = 16,
        cache_llm: Any = None,
        generator: Callable[[Any], Any] | None = None,
        progress: Any = True,
        **params: Any,
    ) -> Any:
        """Every prompt of `frame[column]` over the pool in chunks; a DataFrame back, one row per
        (prompt, generation), ``row`` naming the frame's row.

        With `cache_llm` (the LLM your load function makes: making one loads nothing) the
        persistent cache is consulted first, so a rerun sends only what is missing, and what
        the pool made is stored there. A member that dies has its unfinished chunk rescheduled
        on the others; rows that fail keep their error. ``attrs["rows_sent"]`` says how many
        rows went to the pool.

        ``generator=lambda llm: MajorVoteGenerator(job, llm, num_votes=5)`` runs that generator
        over each chunk inside the members instead (the column then holds the job's inputs); each
        member's own LLM cache spares the model what it has answered before."""
        from nbllm.scale.chunks import generate_frame, run_generator_frame

        if generator is not None:
            return run_generator_frame(self, frame, column, chunk_size, generator, progress, params)
        return generate_frame(self, frame, column, num_generations, chunk_size, cache_llm, progress, params)

    @property
    def model_name(self) -> str:
        return self.llms[0].model_name

    def submit(
        self, inputs: Any, num_generations: int = 1, **options: Any
    ) -> concurrent.futures.Future[list[GenerateOutput]]:
        """Split the generations over the pool; a Future of the merged outputs."""
        batch = to_batch(inputs)
        counts = split_generations(num_generations, len(self.llms), self._rng)
        offsets = list(itertools.accumulate([0, *counts[:-1]]))
        parts = [
            (llm.generate(inputs, count, sample_offset=offset, **options), count, offset)
            for llm, count, offset in zip(self.llms, counts, offsets)
            if count > 0
        ]
        merged: concurrent.futures.Future[list[GenerateOutput]] = concurrent.futures.Future()
        remaining = [len(parts)]
        lock = threading.Lock()

        def done(_: Any) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0] or merged.done():
                    return
            merged.set_result(self._merge(batch, parts))

        def stop_parts(_: Any) -> None:  # a cancelled call cancels each member's share
            if merged.cancelled():
                for future, _, _ in parts:
                    future.cancel()

        for future, _, _ in parts:
            future.add_done_callback(done)
        merged.add_done_callback(stop_parts)
        return merged

    def generate(self, inputs: Any, num_generations: int = 1, **options: Any) -> GenerateOutputs:
        """The merged outputs, as from an LLM: a list that shows itself as a table. An
        interrupt while waiting cancels the members' work too."""
        merged = self.submit(inputs, num_generations, **options)
        try:
            return GenerateOutputs(merged.result())
        except BaseException:
            merged.cancel()
            raise

    def _merge(
        self, batch: list[Any], parts: list[tuple[concurrent.futures.Future[Any], int, int]]
    ) -> list[GenerateOutput]:
        """One output per input with every member's generations, in sample order; a failed
        member's share becomes failed generations carrying its error."""
        merged = []
        for index, messages in enumerate(batch):
            generations: list[Generation] = []
            model = ""
            for future, count, offset in parts:
                error = future.exception()
                if error is None:
                    output = future.result()[index]
                    generations.extend(output.generations)
                    model = model or output.model_name
                else:
                    failure = error if isinstance(error, BackendError) else BackendError(str(error))
                    generations.extend(
                        Generation(None, sample_index=offset + i, error=failure) for i in range(count)
                    )
            generations.sort(key=lambda g: g.sample_index)
            merged.append(GenerateOutput(model, generations, messages))
        return merged

    def teardown(self) -> None:
        for llm in self.llms:
            llm.teardown()

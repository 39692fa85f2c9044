"""The common part of every generator: an LLM, a job, progress, and results aligned with inputs.

Made on the caller's thread; ``generate`` and ``submit`` run ``agenerate`` on the I/O loop
(awaited directly, on the caller's loop), progress on nbllm-callbacks.
"""

from __future__ import annotations

import concurrent.futures
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from nbllm.core.results import RunResult
from nbllm.engine import callbacks, loop
from nbllm.engine.components import Component
from nbllm.engine.progress import Progress, ProgressCallback
from nbllm.engine.thunk import gather_thunks
from nbllm.errors import InvalidInputError
from nbllm.generators.jobs import Job, JobCall, JobInput
from nbllm.generators.registry import GENERATORS


class BaseGenerator(ABC):
    """Runs a job on an LLM. Subclasses implement ``agenerate``; ``generate`` waits for it and
    ``submit`` returns a Future instead of waiting."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(
        self,
        job: Job,
        llm: Any = None,
        *,
        progress_callback: ProgressCallback | None = None,
        fresh: bool = False,
        **params: Any,
    ) -> None:
        from nbllm.llms.default import default_llm

        if not isinstance(job, Job):
            raise InvalidInputError(f"{type(self).__name__} needs a Job, not {type(job).__name__}.")
        self.job = job
        self.llm = llm if llm is not None else default_llm()
        self.progress_callback = progress_callback
        self.fresh = fresh
        self.params = params
        self._parent: Component | None = None  # the component this run is made for (log DAG)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            GENERATORS[cls.name] = cls

    @abstractmethod
    async def agenerate(self, inputs: Any, **params: Any) -> Any:
        """Run the generator; the shape of the result is documented per generator."""

    def generate(self, inputs: Any, **params: Any) -> Any:
        return loop.run_sync(self.agenerate(inputs, **params))

    def submit(self, inputs: Any, **params: Any) -> concurrent.futures.Future[Any]:
        """Start the generator and return a Future of its result, without waiting."""
        return loop.submit(self.agenerate(inputs, **params))

    # -- shared steps -------------------------------------------------------------------------
    def job_calls(self, inputs: Sequence[JobInput], job: Job | None = None) -> list[JobCall]:
        """The job calls this generator sends for `inputs`, every one rendered first, so a bad
        input fails before any request (an estimate reads them too)."""
        job = job or self.job
        return [job.call(value).derived_from(self._parent) for value in inputs]

    async def _run_many(
        self,
        calls: list[JobCall],
        num_runs: int,
        progress: Progress | None,
        params: dict[str, Any],
        variant: str | None = None,
        sample_offset: int = 0,
        first_index: int = 0,
    ) -> list[list[RunResult]]:
        """`num_runs` concurrent runs of every call, submitted to the engine as one batch (its
        limits apply); RunResults in run order, a list per call."""
        if not calls:
            return []
        overrides = {**calls[0].job.params, **self.params, **params}
        batches = self.llm.submit(calls, num_runs, fresh=self.fresh, sample_offset=sample_offset, **overrides)
        flat = [t for batch in batches for t in batch]
        if progress is not None:
            progress.follow(flat)
        generations = await gather_thunks(flat)
        if progress is not None and progress.callback is not None:  # reported before returning
            await callbacks.drained()
        model, params_used = self.llm.model_name, flat[0].params
        return [
            [
                RunResult.from_generation(
                    g, first_index + i, call.value, model, self.name, params_used, variant
                )
                for g in generations[i * num_runs : (i + 1) * num_runs]
            ]
            for i, call in enumerate(calls)
        ]

    async def _run(
        self,
        call: JobCall,
        input_index: int,
        num_runs: int,
        progress: Progress | None,
        params: dict[str, Any],
        variant: str | None = None,
        sample_offset: int = 0,
    ) -> list[RunResult]:
        """`num_runs` concurrent runs of one rendered input, as RunResults in run order."""
        (runs,) = await self._run_many(
            [call], num_runs, progress, params, variant, sample_offset, input_index
        )
        return runs


def as_batch(inputs: Any) -> tuple[list[JobInput], bool]:
    """The inputs as a list, and whether a single input was given."""
    if isinstance(inputs, (str, dict)):
        return [inputs], True
    if isinstance(inputs, Sequence) and len(inputs) > 0:
        return list(inputs), False
    raise InvalidInputError("inputs must be one input (a string or a dict) or a non-empty list of them.")


def check_runs(num_runs: int, name: str = "num_runs") -> int:
    if not isinstance(num_runs, int) or num_runs < 1:
        raise InvalidInputError(f"{name}={num_runs!r} is invalid: it must be an integer >= 1.")
    return num_runs

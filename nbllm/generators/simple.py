"""Generator: the simplest strategy, one run of the job per input.

Runs on the I/O loop, like every generator's agenerate (see base.py).
"""

from __future__ import annotations

from typing import Any

from nbllm.core.results import RunResult
from nbllm.generators.base import BaseGenerator, Progress, as_batch


class Generator(BaseGenerator):
    """Runs the job once for an input. Returns a RunResult (a list of them for a list of inputs)."""

    name = "Generator"
    description = "Runs the job once per input, one input after another."

    async def agenerate(self, inputs: Any, **params: Any) -> RunResult | list[RunResult]:
        values, single = as_batch(inputs)
        calls = self.job_calls(values)
        progress = Progress(len(calls), self.progress_callback)
        results = [(await self._run(call, i, 1, progress, params))[0] for i, call in enumerate(calls)]
        return results[0] if single else results

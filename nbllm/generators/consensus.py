"""MajorVoteGenerator: run a job several times and keep the answer most runs agree on.

Votes are counted on the I/O loop (see base.py); a sync human_callback runs on nbllm-callbacks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
from collections.abc import Callable
from typing import Any, Literal

from nbllm.core.results import RunResult, VoteResult
from nbllm.engine import callbacks
from nbllm.engine.components import Chat
from nbllm.errors import UsageError
from nbllm.generators.base import BaseGenerator, Progress, as_batch, check_runs
from nbllm.generators.jobs import Job, JobCall
from nbllm.generators.voting import REASONING_FIELDS, tally, vote_key

VoteMode = Literal["majority", "grade", "human"]
HumanCallback = Callable[[list[RunResult], Any], Any]

_PICK_SCHEMA = {
    "type": "object",
    "properties": {"best": {"type": "integer"}},
    "required": ["best"],
}
_SCORE_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}},
    "required": ["score"],
}


class MajorVoteGenerator(BaseGenerator):
    """Runs the job `num_votes` times per input and returns the majority output.

    Modes: "majority" compares parsed outputs (reasoning fields left out; normalised text for
    free text) and, when no answer has two votes, lets the model pick among the candidates;
    "grade" has the model score every candidate; "human" asks `human_callback(candidates,
    input)` for the index of the winner (the notebook layer provides a widget for it).
    """

    name = "MajorVoteGenerator"
    description = "Runs num_votes times and keeps the majority answer, with its agreement ratio."

    def __init__(
        self,
        job: Job,
        llm: Any = None,
        *,
        num_votes: int = 5,
        mode: VoteMode = "majority",
        human_callback: HumanCallback | None = None,
        ignore_fields: frozenset[str] = REASONING_FIELDS,
        **options: Any,
    ) -> None:
        super().__init__(job, llm, **options)
        self.num_votes = check_runs(num_votes, "num_votes")
        if mode not in ("majority", "grade", "human"):
            raise UsageError(f"mode={mode!r} is invalid; use 'majority', 'grade' or 'human'.")
        if mode == "human" and human_callback is None:
            raise UsageError(
                "mode='human' needs human_callback=fn(candidates, input) -> index; in a notebook "
                "use nbllm.HumanVerification(...).callback."
            )
        self.mode = mode
        self.human_callback = human_callback
        self.ignore_fields = frozenset(ignore_fields)

    async def agenerate(self, inputs: Any, **params: Any) -> VoteResult | list[VoteResult]:
        values, single = as_batch(inputs)
        calls = self.job_calls(values)
        progress = Progress(len(calls) * self.num_votes, self.progress_callback)
        runs = await self._run_many(calls, self.num_votes, progress, params)
        results = [await self._decide(call, i, r) for i, (call, r) in enumerate(zip(calls, runs))]
        return results[0] if single else results

    async def _decide(self, call: JobCall, index: int, runs: list[RunResult]) -> VoteResult:
        keys = [vote_key(r.output, self.ignore_fields) if r.ok else None for r in runs]
        counted = tally(keys)
        firsts: dict[str, RunResult] = {}
        for key, run in zip(keys, runs):
            if key is not None:
                firsts.setdefault(key, run)
        candidates = list(firsts.values())
        candidate_keys = list(firsts)
        if not candidates:
            return VoteResult(index, call.value, None, 0.0, {}, runs, "none")
        if self.mode == "human":
            choice, decided_by = await self._ask_human(candidates, call.value), "human"
        elif self.mode == "grade":
            choice, decided_by = await self._score(call, candidates, counted.counts, candidate_keys), "grade"
        elif counted.has_majority or len(candidates) == 1:
            choice, decided_by = candidate_keys.index(counted.leader), "majority"
        else:
            choice, decided_by = await self._pick(call, candidates), "grade"
        winner = candidates[choice]
        reliability = counted.counts[candidate_keys[choice]] / self.num_votes
        return VoteResult(
            index, call.value, winner.output, reliability, counted.counts, runs, decided_by, winner.text
        )

    async def _ask_human(self, candidates: list[RunResult], value: Any) -> int:
        assert self.human_callback is not None
        if inspect.iscoroutinefunction(self.human_callback):
            answer = await self.human_callback(candidates, value)
        else:  # a person takes their time: wait on nbllm's callback thread, never on the I/O loop
            answer = await asyncio.wrap_future(callbacks.call(self.human_callback, candidates, value))
        if isinstance(answer, concurrent.futures.Future):  # resolved later, e.g. by a widget's click
            answer = await asyncio.wrap_future(answer)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, int) or not 0 <= answer < len(candidates):
            raise UsageError(
                f"human_callback returned {answer!r}; it must be an index below {len(candidates)}."
            )
        return answer

    async def _pick(self, call: JobCall, candidates: list[RunResult]) -> int:
        """The model picks the best candidate (used when no answer has two votes)."""
        listing = "\n".join(f"{n}. {c.text}" for n, c in enumerate(candidates, 1))
        prompt = (
            f"Task: {self.job.instruction}\nInput: {self.job.render(call.value)}\n\n"
            f"Candidate answers:\n{listing}\n\nWhich answer is best? Reply with JSON "
            f'{{"best": <number from 1 to {len(candidates)}>}}.'
        )
        parsed = await self._judge(prompt, _PICK_SCHEMA, call)
        best = parsed.get("best") if isinstance(parsed, dict) else None
        return min(max(int(best) - 1, 0), len(candidates) - 1) if isinstance(best, int) else 0

    async def _score(
        self, call: JobCall, candidates: list[RunResult], counts: dict[str, int], keys: list[str]
    ) -> int:
        """The model scores each candidate from 1 to 10; ties go to the one with more votes."""
        rendered = self.job.render(call.value)

        async def score(candidate: RunResult) -> int:
            prompt = (
                f"Task: {self.job.instruction}\nInput: {rendered}\nAnswer: {candidate.text}\n\n"
                'Grade the answer from 1 (wrong) to 10 (perfect). Reply with JSON {"score": <1-10>}.'
            )
            parsed = await self._judge(prompt, _SCORE_SCHEMA, call)
            value = parsed.get("score") if isinstance(parsed, dict) else None
            return min(max(value, 1), 10) if isinstance(value, int) else 0

        scores = await asyncio.gather(*(score(c) for c in candidates))
        return max(range(len(candidates)), key=lambda i: (scores[i], counts[keys[i]], -i))

    async def _judge(self, prompt: str, schema: dict[str, Any], call: JobCall) -> Any:
        """The model's verdict on `call`'s candidates (logged as a child of the call)."""
        judge = Chat(prompt, output_schema=schema).derived_from(call)
        (thunks,) = self.llm.submit(judge, 1, structured_output=schema, temperature=0.0, max_tokens=20)
        generation = await thunks[0]
        if generation.error is not None:
            try:
                return json.loads(generation.text or "")
            except json.JSONDecodeError:
                return None
        return generation.parsed

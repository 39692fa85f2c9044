"""ExampleGenerator: new example inputs for a job, each answered by majority vote.

Runs on the I/O loop, like every generator's agenerate (see base.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nbllm.engine.components import Chat
from nbllm.errors import NBLLMError
from nbllm.generators.base import BaseGenerator, check_runs
from nbllm.generators.consensus import MajorVoteGenerator
from nbllm.generators.jobs import Example, Job


@dataclass
class ExampleRecord:
    """A generated example: its input, the voted output and how many runs agreed."""

    input: dict[str, Any] | None
    output: Any = None
    reliability: float = 0.0
    error: NBLLMError | None = None
    recorded: bool = False  # every answer it came from was replayed from a bundle

    @property
    def ok(self) -> bool:
        return self.error is None and self.input is not None and self.output is not None

    def to_example(self) -> Example:
        return Example(input=self.input or {}, output=self.output, reliability=self.reliability)


class ExampleGenerator(BaseGenerator):
    """``generate(num_items)`` writes new inputs for the job from its instruction and examples,
    then fills each output by majority vote over `num_votes` runs."""

    name = "ExampleGenerator"
    description = "Writes new example inputs for the job and fills their outputs by majority vote."

    def __init__(self, job: Job, llm: Any = None, *, num_votes: int = 3, **options: Any) -> None:
        super().__init__(job, llm, **options)
        self.num_votes = check_runs(num_votes, "num_votes")

    def _input_prompt(self) -> tuple[str, dict[str, Any]]:
        fields = self.job.fields
        schema = {
            "type": "object",
            "properties": {f: {"type": "string"} for f in fields},
            "required": fields,
        }
        shown = "\n".join(json.dumps(e.input) for e in self.job.examples[:5]) or "(none yet)"
        prompt = (
            "You write example inputs for a task.\n"
            f"Task: {self.job.instruction}\n"
            f"Existing example inputs:\n{shown}\n\n"
            f"Write one new, different example input as JSON with the fields {fields}."
        )
        return prompt, schema

    async def agenerate(self, num_items: int, **params: Any) -> list[ExampleRecord]:
        check_runs(num_items, "num_items")
        prompt, schema = self._input_prompt()
        overrides = {"temperature": 1.0, **self.params, **params}
        writer = Chat(prompt, output_schema=schema)
        (thunks,) = self.llm.submit(
            writer,
            num_items,
            structured_output=schema,
            fresh=self.fresh,
            **overrides,
        )
        records = []
        for thunk in thunks:
            generation = await thunk
            records.append(
                ExampleRecord(
                    generation.parsed if generation.ok else None,
                    error=generation.error,
                    recorded=generation.stats.recorded,
                )
            )
        valid = [r for r in records if r.error is None and r.input is not None]
        if valid:
            voter = MajorVoteGenerator(
                self.job,
                self.llm,
                num_votes=self.num_votes,
                progress_callback=self.progress_callback,
                fresh=self.fresh,
            )
            voter._parent = writer  # each new example's answers are logged as children of the writer
            votes = await voter.agenerate([r.input for r in valid], **params)
            for record, vote in zip(valid, votes):
                record.output, record.reliability = vote.winner, vote.reliability
                record.recorded = record.recorded and all(c.stats.recorded for c in vote.candidates)
        return records

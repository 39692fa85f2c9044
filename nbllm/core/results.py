"""What generators return: one RunResult per (input, run), aligned with the inputs, errors kept.

Pure: runs on whatever thread calls it (generators make these on the I/O loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbllm.core.outputs import Generation, GenerationStats
from nbllm.errors import NBLLMError


@dataclass
class RunResult:
    """One run of a job on one input. A failed or unparsable run keeps its error here."""

    input_index: int
    run_index: int
    input: Any
    text: str | None
    parsed: Any = None
    error: NBLLMError | None = None
    stats: GenerationStats = field(default_factory=GenerationStats)
    model: str = ""
    generator: str = ""
    variant: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None  # a reasoning model's thinking; `text` is the answer alone

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output(self) -> Any:
        """The parsed value when there is a schema, else the text."""
        return self.parsed if self.parsed is not None else self.text

    @classmethod
    def from_generation(
        cls,
        generation: Generation,
        input_index: int,
        input: Any,
        model: str,
        generator: str,
        params: dict[str, Any],
        variant: str | None = None,
    ) -> RunResult:
        return cls(
            input_index=input_index,
            run_index=generation.sample_index,
            input=input,
            text=generation.text,
            parsed=generation.parsed,
            error=generation.error,
            stats=generation.stats,
            model=model,
            generator=generator,
            variant=variant,
            params=params,
            reasoning=generation.reasoning,
        )


@dataclass
class VoteResult:
    """A majority vote over runs of one input."""

    input_index: int
    input: Any
    winner: Any
    reliability: float
    votes: dict[str, int]
    candidates: list[RunResult]
    decided_by: str  # "majority", "grade" (the model picked) or "human"
    winner_text: str | None = None

    @property
    def ok(self) -> bool:
        return self.winner is not None

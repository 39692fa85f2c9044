"""What a generation returns: texts with their statistics, shaped like distilabel's GenerateOutput."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbllm.errors import NBLLMError


@dataclass
class GenerationStats:
    """Numbers recorded for one generation.

    cpu_time is the process CPU seconds spent while the request ran (overlapping requests
    share it); peak_memory_mb is the process's peak resident memory when it finished.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    latency: float = 0.0
    finish_reason: str | None = None
    cache_hit: bool = False
    cpu_time: float = 0.0
    peak_memory_mb: float = 0.0
    attempts: int = 1

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.latency if self.latency > 0 else 0.0


@dataclass
class Generation:
    """One sample: its text (None when it failed), parsed value, stats and error."""

    text: str | None
    stats: GenerationStats = field(default_factory=GenerationStats)
    sample_index: int = 0
    parsed: Any = None
    error: NBLLMError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class GenerateOutput:
    """The generations for one input, in sample order, with the model that made them."""

    model_name: str
    generations: list[Generation]
    input: tuple[dict[str, str], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str | None]:
        return [g.text for g in self.generations]

    @property
    def statistics(self) -> dict[str, list[Any]]:
        """distilabel's shape: each statistic as a list, one entry per generation."""
        keys = ("input_tokens", "output_tokens", "latency", "finish_reason", "cache_hit")
        return {k: [getattr(g.stats, k) for g in self.generations] for k in keys}

    @property
    def errors(self) -> list[NBLLMError]:
        return [g.error for g in self.generations if g.error is not None]

    def raise_for_errors(self) -> GenerateOutput:
        """Raise the first failed generation's error; returns self when all succeeded."""
        if self.errors:
            raise self.errors[0]
        return self

    def __len__(self) -> int:
        return len(self.generations)

    def to_dataframe(self) -> Any:
        """One row per generation (see nbllm.to_dataframe)."""
        from nbllm.notebook.frames import to_dataframe

        return to_dataframe(self)

    def _repr_html_(self) -> str:
        from nbllm.notebook.html import results_html

        return results_html(self)


class GenerateOutputs(list):  # type: ignore[type-arg]
    """The outputs of one ``generate`` call, one per input; a list that also shows itself as a
    table in notebooks and converts to a DataFrame."""

    def to_dataframe(self) -> Any:
        from nbllm.notebook.frames import to_dataframe

        return to_dataframe(list(self))

    def _repr_html_(self) -> str:
        from nbllm.notebook.html import results_html

        return results_html(list(self))


def merge_responses(responses: list[GenerateOutput], n: int = 1) -> list[GenerateOutput]:
    """Group single-generation outputs into outputs of `n` generations each, in order.

    The statistics of each generation stay attached to it; sample indices are renumbered
    within each group.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    merged: list[GenerateOutput] = []
    for start in range(0, len(responses), n):
        group = responses[start : start + n]
        generations = [g for r in group for g in r.generations]
        for index, generation in enumerate(generations):
            generation.sample_index = index
        first = group[0]
        merged.append(GenerateOutput(first.model_name, generations, first.input, first.params))
    return merged

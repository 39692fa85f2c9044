"""What a generation returns: texts with their statistics, shaped like distilabel's GenerateOutput.

Pure: runs on whatever thread calls it; the engine fills generations in on the I/O loop and the
caller reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbllm.core.views import view
from nbllm.errors import NBLLMError


@dataclass
class GenerationStats:
    """Numbers recorded for one generation.

    cpu_time is the process CPU seconds spent while the request ran (overlapping requests
    share it); peak_memory_mb is the process's peak resident memory when it finished.
    tokens_estimated is True when the server sent no usage and nbllm counted the tokens.
    recorded is True when the answer was replayed from a bundle (`nbllm.replay`), not generated.
    output_tokens counts every generated token, a reasoning model's thinking included (it is
    billed as output); reasoning_tokens says how many of them were thinking, as the server
    reported them, or counted by nbllm from the thinking's text (reasoning_estimated).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    latency: float = 0.0
    finish_reason: str | None = None
    cache_hit: bool = False
    cpu_time: float = 0.0
    peak_memory_mb: float = 0.0
    attempts: int = 1
    tokens_estimated: bool = False
    recorded: bool = False
    reasoning_tokens: int = 0
    reasoning_estimated: bool = False

    @property
    def tokens_per_second(self) -> float:
        """Every generated token (thinking included) per second of the request."""
        return self.output_tokens / self.latency if self.latency > 0 else 0.0

    @property
    def answer_tokens(self) -> int:
        """The generated tokens that were the answer, not thinking."""
        return max(self.output_tokens - self.reasoning_tokens, 0)


@dataclass
class Generation:
    """One sample: its text (None when it failed), parsed value, stats and error.

    `text` is the answer alone; a reasoning model's thinking is in `reasoning` (None where the
    model did not think, or its provider hides the thinking: see stats.reasoning_tokens).
    """

    text: str | None
    stats: GenerationStats = field(default_factory=GenerationStats)
    sample_index: int = 0
    parsed: Any = None
    error: NBLLMError | None = None
    notes: tuple[str, ...] = ()  # e.g. that the server cannot promise a seeded sample repeats
    reasoning: str | None = None

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

    def to_dict(self) -> dict[str, Any]:
        """distilabel 1.x's shape: the texts, and each statistic as a list (one per generation)."""
        return {"generations": self.texts, "statistics": self.statistics}

    @classmethod
    def from_dict(cls, data: dict[str, Any], model_name: str = "") -> GenerateOutput:
        """The inverse of to_dict (statistics nbllm does not know are dropped)."""
        stats = data.get("statistics", {})
        known = set(GenerationStats.__dataclass_fields__)
        generations = [
            Generation(
                text,
                GenerationStats(**{k: v[i] for k, v in stats.items() if k in known and i < len(v)}),
                sample_index=i,
            )
            for i, text in enumerate(data.get("generations", []))
        ]
        return cls(model_name, generations)

    def to_dataframe(self) -> Any:
        """One row per generation (see nbllm.to_dataframe)."""
        return view("dataframe", self)

    def _repr_html_(self) -> str:
        return view("html", self)


class GenerateOutputs(list):  # type: ignore[type-arg]
    """The outputs of one ``generate`` call, one per input; a list that also shows itself as a
    table in notebooks and converts to a DataFrame."""

    def to_dataframe(self) -> Any:
        return view("dataframe", list(self))

    def _repr_html_(self) -> str:
        return view("html", list(self))


def merge_responses(responses: list[Any], n: int = 1) -> list[dict[str, Any]]:
    """distilabel 1.x's helper: group single-generation responses into groups of `n`.

    Takes responses in the dict shape (``{"generations": [...], "statistics": {...}}``, or
    GenerateOutputs, which are converted with ``to_dict()``) and returns dicts: each holds the
    first generation of each response in its group, with every statistic (and any extra key)
    collected as a list. The inputs are not changed.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    dicts = [r.to_dict() if isinstance(r, GenerateOutput) else r for r in responses]
    if not dicts:
        return []
    extra_keys = [k for k in dicts[0] if k not in ("generations", "statistics")]
    merged_all = []
    for start in range(0, len(dicts), n):
        merged: dict[str, Any] = {"generations": [], "statistics": {"input_tokens": [], "output_tokens": []}}
        for response in dicts[start : start + n]:
            merged["generations"].append(response["generations"][0])
            for key, values in response["statistics"].items():
                merged["statistics"].setdefault(key, []).append(values[0])
            for key in extra_keys:
                merged.setdefault(key, []).append(response[key][0])
        merged_all.append(merged)
    return merged_all

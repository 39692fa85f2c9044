"""Results as pandas DataFrames: one row per (input, generation), and a wide side-by-side form.

Pure: runs on whatever thread calls it (the caller's, or nbllm-callbacks for a live table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from nbllm.core.messages import last_user_text
from nbllm.core.outputs import GenerateOutput

PARAM_COLUMNS = ("temperature", "top_p", "top_k", "max_tokens", "seed", "reasoning_effort")
COLUMNS = (
    "input_index",
    "input",
    "generation_index",
    "generation",
    "reasoning",
    "votes",
    "parsed",
    "model",
    "generator",
    "variant",
    *PARAM_COLUMNS,
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "latency",
    "tokens_per_second",
    "cache_hit",
    "recorded",
    "finish_reason",
    "notes",
    "error",
)


# Columns kept even when empty, so code can rely on them (frame["error"].notna() ...).
ALWAYS_SHOWN = frozenset({"input", "generation", "recorded", "error"})


def to_dataframe(results: Any, generator: str | None = None, variant: str | None = None) -> Any:
    """Any nbllm result set as a DataFrame with one row per (input, generation).

    Accepts a GenerateOutput or a list of them (an LLM's ``generate``), generator results
    (RunResults, nested lists of them, VoteResults) and Sampler results (one block per variant).
    Failed generations are rows too, with their error in the ``error`` column.
    """
    import pandas as pd

    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in _rows(results, generator, variant, [0], columns):
        for name in COLUMNS:
            columns[name].append(row.get(name))
    frame = pd.DataFrame(columns)
    if frame.empty:
        return frame
    empty = [c for c in frame.columns if c not in ALWAYS_SHOWN and frame[c].isna().all()]
    return frame.drop(columns=empty)


def to_wide(frame: Any, by: str = "variant", value: str = "generation") -> Any:
    """Side by side: one row per (input, generation index), one column per `by` value."""
    wide = frame.pivot_table(
        index=["input_index", "input", "generation_index"],
        columns=by,
        values=value,
        aggfunc="first",
        sort=False,
    )
    wide.columns.name = None  # else pandas heads the index column with `by`
    return wide.reset_index()


def _rows(
    results: Any,
    generator: str | None,
    variant: str | None,
    counter: list[int],
    columns: dict[str, list[Any]],
) -> Iterator[dict[str, Any]]:
    """Rows as dicts; GenerateOutputs (the bulk of big result sets) go straight into `columns`."""
    from nbllm.core.results import RunResult, VoteResult
    from nbllm.generators.examples import ExampleRecord
    from nbllm.generators.sampler import VariantResult

    if isinstance(results, GenerateOutput):
        _add_output(columns, results, counter[0], generator, variant)
        counter[0] += 1
    elif isinstance(results, RunResult):
        yield _run_row(results, variant)
    elif isinstance(results, VoteResult):
        yield _vote_row(results, variant)
    elif isinstance(results, ExampleRecord):
        yield {
            "input": results.input,
            "generation": results.output,
            "parsed": results.output,
            "error": _err(results.error),
            "generation_index": 0,
            "recorded": results.recorded,
        }
    elif isinstance(results, VariantResult):
        counter[0] = 0
        yield from _rows(results.results, generator, results.label, counter, columns)
    elif isinstance(results, Iterable) and not isinstance(results, (str, bytes, dict)):
        for item in results:
            yield from _rows(item, generator, variant, counter, columns)
    else:
        from nbllm.errors import UsageError

        raise UsageError(f"to_dataframe does not know how to show a {type(results).__name__}.")


def _add_output(
    columns: dict[str, list[Any]],
    output: GenerateOutput,
    index: int,
    generator: str | None,
    variant: str | None,
) -> None:
    text = last_user_text(output.input) if output.input else None
    gens = output.generations
    n = len(gens)
    stats = [g.stats for g in gens]
    for name, value in (
        ("input_index", index),
        ("input", text),
        ("model", output.model_name),
        ("generator", generator),
        ("variant", variant),
        ("votes", None),
        *((p, output.params.get(p)) for p in PARAM_COLUMNS),
    ):
        columns[name].extend([value] * n)
    columns["generation_index"].extend(g.sample_index for g in gens)
    columns["generation"].extend(g.text for g in gens)
    columns["reasoning"].extend(g.reasoning for g in gens)
    columns["reasoning_tokens"].extend(_thinking(s) for s in stats)
    columns["parsed"].extend(None if g.parsed == g.text else g.parsed for g in gens)
    columns["input_tokens"].extend(s.input_tokens for s in stats)
    columns["output_tokens"].extend(s.output_tokens for s in stats)
    columns["tokens_estimated"].extend(_estimated(s) for s in stats)
    columns["latency"].extend(s.latency for s in stats)
    columns["tokens_per_second"].extend(s.tokens_per_second for s in stats)
    columns["cache_hit"].extend(s.cache_hit for s in stats)
    columns["recorded"].extend(s.recorded for s in stats)
    columns["finish_reason"].extend(s.finish_reason for s in stats)
    columns["notes"].extend("; ".join(g.notes) or None for g in gens)
    columns["error"].extend(_err(g.error) for g in gens)


def _run_row(r: Any, variant: str | None) -> dict[str, Any]:
    s = r.stats
    return {
        "input_index": r.input_index,
        "input": _input_text(r.input),
        "generation_index": r.run_index,
        "generation": r.text,
        "reasoning": r.reasoning,
        "parsed": None if r.parsed == r.text else r.parsed,
        "model": r.model,
        "generator": r.generator,
        "variant": r.variant or variant,
        **{p: r.params.get(p) for p in PARAM_COLUMNS},
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "reasoning_tokens": _thinking(s),
        "tokens_estimated": _estimated(s),
        "latency": s.latency,
        "tokens_per_second": s.tokens_per_second,
        "cache_hit": s.cache_hit,
        "recorded": s.recorded,
        "finish_reason": s.finish_reason,
        "error": _err(r.error),
    }


def _vote_row(v: Any, variant: str | None) -> dict[str, Any]:
    first = v.candidates[0] if v.candidates else None
    return {
        "input_index": v.input_index,
        "input": _input_text(v.input),
        "generation_index": 0,
        "generation": v.winner_text,
        "votes": _votes(v.candidates),
        "parsed": v.winner,
        "model": first.model if first else None,
        "generator": f"MajorVoteGenerator ({v.decided_by}, reliability {v.reliability:.2f})",
        "variant": variant,
        "input_tokens": sum(c.stats.input_tokens for c in v.candidates),
        "output_tokens": sum(c.stats.output_tokens for c in v.candidates),
        "tokens_estimated": True if any(c.stats.tokens_estimated for c in v.candidates) else None,
        "latency": max((c.stats.latency for c in v.candidates), default=0.0),
        "tokens_per_second": _rate(v.candidates),
        "cache_hit": all(c.stats.cache_hit for c in v.candidates),
        "recorded": bool(v.candidates) and all(c.stats.recorded for c in v.candidates),
        "error": None if v.ok else "no run succeeded",
    }


def _votes(runs: list[Any]) -> str | None:
    """Each distinct answer of a vote with how many runs gave it, most votes first."""
    import collections

    counts = collections.Counter(" ".join(r.text.split()) for r in runs if r.ok and r.text)
    failed = sum(not r.ok for r in runs)
    shown = [f"{n}× {text if len(text) <= 80 else text[:79] + '…'}" for text, n in counts.most_common()]
    return " | ".join(shown + ([f"{failed}× failed"] if failed else [])) or None


def _thinking(stats: Any) -> int | None:
    """Thinking tokens, None (an empty cell, a dropped column) where the model did not think."""
    return stats.reasoning_tokens or None


def _estimated(stats: Any) -> bool | None:
    """True where nbllm counted the tokens itself; None (an empty cell) where the server did."""
    return True if stats.tokens_estimated else None


def _rate(runs: list[Any]) -> float | None:
    """Output tokens per second over runs that were generated (cached runs took no time)."""
    made = [r.stats for r in runs if not r.stats.cache_hit and r.stats.latency > 0]
    return sum(s.output_tokens for s in made) / sum(s.latency for s in made) if made else None


def _input_text(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value.values()))
    return value


def _err(error: Any) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"

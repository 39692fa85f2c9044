"""A comparison's cells: the samples of one input under one variant, summarised (the majority
answer and its share, the spread of lengths and latency, errors, each scorer's mean), and
marked where a scorer's mean differs from the baseline column's beyond sampling noise.

Pure pandas on the caller's thread.
"""

from __future__ import annotations

from typing import Any

ERROR_SUFFIX = " error"


def add_scores(frame: Any, scorers: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    """The long table with one column per scorer (a number; NaN where the generation or the
    scorer failed) and, where a scorer raised, a column of its errors beside it."""
    from nbllm.notebook.compare.scorers import score_rows

    if not scorers:
        return frame
    frame = frame.copy()
    texts = [t if isinstance(t, str) else None for t in frame["generation"]]
    inputs = [rows[i] if i < len(rows) else {} for i in frame["input_index"]]
    inputs = [{**row, "input": text} for row, text in zip(inputs, frame["input"])]
    if "reasoning" in frame:  # a scorer may ask for the thinking by name (scorers._adapt)
        thoughts = [t if isinstance(t, str) else None for t in frame["reasoning"]]
        inputs = [{**row, "reasoning": thought} for row, thought in zip(inputs, thoughts)]
    for name, results in score_rows(scorers, texts, inputs).items():
        frame[name] = [r if isinstance(r, float) else float("nan") for r in results]
        errors = [f"{type(r).__name__}: {r}" if isinstance(r, Exception) else None for r in results]
        if any(errors):
            frame[name + ERROR_SUFFIX] = errors
    return frame


def summarise(frame: Any, by: str, scores: list[str]) -> Any:
    """One row per (variant, input): samples, majority answer, agreement, errors, tokens and
    latency (mean and sd), and each score's mean."""
    import pandas as pd

    records = []
    for (variant, index), cell in frame.groupby([by, "input_index"], sort=False):
        ok = cell[cell["error"].isna()] if "error" in cell else cell
        answers = ok["generation"].dropna().astype(str)
        keys = answers.str.split().str.join(" ").str.lower()
        record: dict[str, Any] = {
            by: variant,
            "input_index": index,
            "input": cell["input"].iloc[0],
            "samples": len(cell),
            "errors": len(cell) - len(ok),
        }
        if len(keys):
            top = keys.value_counts()
            record["majority"] = answers[keys == top.index[0]].iloc[0]
            record["agreement"] = top.iloc[0] / len(keys)
            record["others"] = [
                {"answer": answers[keys == k].iloc[0], "count": int(n)} for k, n in top.iloc[1:].items()
            ]
        else:
            record["majority"], record["agreement"], record["others"] = None, float("nan"), []
        fresh = ok[~ok["cache_hit"].fillna(False).astype(bool)] if "cache_hit" in ok else ok
        record["cached"] = len(ok) - len(fresh)
        record["recorded"] = int(ok["recorded"].fillna(False).astype(bool).sum()) if "recorded" in ok else 0
        for column, rows in (("output_tokens", ok), ("latency", fresh)):  # a cache hit took no time
            if column in rows:
                values = pd.to_numeric(rows[column], errors="coerce")
                record[f"{column} mean"] = values.mean()
                record[f"{column} sd"] = values.std() if len(values) > 1 else 0.0
        for name in scores:
            record[name] = cell[name].mean()
            if name + ERROR_SUFFIX in cell:
                record[name + ERROR_SUFFIX] = int(cell[name + ERROR_SUFFIX].notna().sum())
        records.append(record)
    return pd.DataFrame(records)


def significant_cells(
    frame: Any, by: str, labels: list[str], scores: list[str]
) -> dict[tuple[int, str], list[str]]:
    """(input_index, variant) -> the scores whose samples differ from the baseline (first)
    variant's samples of the same input."""
    from nbllm.notebook.compare.significance import cell_differs

    marks: dict[tuple[int, str], list[str]] = {}
    if len(labels) < 2 or not scores:
        return marks
    try:
        import scipy  # noqa: F401
    except ImportError:  # the stars need scipy; the table does not
        return marks
    grouped = {key: cell for key, cell in frame.groupby([by, "input_index"], sort=False)}
    for (variant, index), cell in grouped.items():
        base = grouped.get((labels[0], index))
        if variant == labels[0] or base is None:
            continue
        for name in scores:
            if cell_differs(base[name].to_numpy(), cell[name].to_numpy()):
                marks.setdefault((index, variant), []).append(name)
    return marks


def note(cell: Any, scores: list[str], marked: list[str]) -> str:
    """The line under a cell's answer: how many samples agree, length, latency, errors, scores."""
    parts = []
    if cell["samples"] > 1 and cell["agreement"] == cell["agreement"]:
        agree = round(cell["agreement"] * (cell["samples"] - cell["errors"]))
        parts.append(f"{agree}/{cell['samples'] - cell['errors']} agree")
    if "output_tokens mean" in cell and cell["output_tokens mean"] == cell["output_tokens mean"]:
        parts.append(f"{cell['output_tokens mean']:.0f}±{cell['output_tokens sd']:.0f} tokens")
    if "latency mean" in cell and cell["latency mean"] == cell["latency mean"]:
        parts.append(f"{cell['latency mean']:.2f} s")
    for count, every, some in (
        ("cached", "all from the cache", "from the cache"),
        ("recorded", "recorded", "recorded"),
    ):
        if cell.get(count):
            parts.append(
                every if cell[count] == cell["samples"] - cell["errors"] else f"{cell[count]} {some}"
            )
    if cell["errors"]:
        parts.append(f"{cell['errors']} failed")
    for name in scores:
        value = cell[name]
        text = "scorer failed" if value != value else f"{value:.2f}"
        failed = cell.get(name + ERROR_SUFFIX, 0) or 0
        if failed and value == value:
            text += f" ({failed} unscored)"
        parts.append(f"{name} {text}{' *' if name in marked else ''}")
    return " · ".join(parts)

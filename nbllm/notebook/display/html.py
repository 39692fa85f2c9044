"""Rich HTML for results: a readable table that renders where widgets cannot (GitHub, nbviewer,
exported HTML). Long texts wrap inside a scrollable cell instead of stretching the page.

Pure: runs on whatever thread calls it (the kernel's, or nbllm-callbacks for live tables).
"""

from __future__ import annotations

import html
import re
from typing import Any

STYLE = (
    "<style>.nbllm-results{border-collapse:collapse;font-size:13px;max-width:100%}"
    ".nbllm-results.nbllm-results th{background:#f3f4f6;text-align:left;padding:4px 8px;border-bottom:2px solid #d1d5db}"
    ".nbllm-results th.short{white-space:nowrap}"
    ".nbllm-results td{padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}"
    ".nbllm-results td.text{text-align:left;max-width:42em;white-space:pre-wrap;overflow-wrap:break-word;"
    "word-break:normal;line-height:1.5em}"
    ".nbllm-results td.input{min-width:8em;max-width:24em}.nbllm-results td.generation,.nbllm-results td.votes{min-width:12em}"
    ".nbllm-results td.stats{white-space:nowrap;color:#4b5563;font-size:12px;font-variant-numeric:tabular-nums}"
    ".nbllm-scroll{overflow-x:auto;max-width:100%}"
    ".nbllm-results td.text div{max-height:15em;overflow-y:auto}"
    ".nbllm-results td.err{color:#b91c1c}.nbllm-results td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "</style>"
)
SHOWN = (
    "input",
    "generation_index",
    "generation",
    "votes",
    "variant",
    "generator",
    "model",
    "stats",
    "cache_hit",
    "recorded",
    "error",
)
# Short headers, so the numbers' columns stay narrow and the texts get the width.
HEADERS = {
    "generation_index": "sample",
    "stats": "tokens · time",
    "cache_hit": "cached",
}
# The numbers of a generation, shown together in one narrow column ("stats").
STATS = ("input_tokens", "output_tokens", "latency", "tokens_per_second")
# Columns shown only when some row has something in them.
SPARSE = ("generator", "cache_hit", "recorded", "error")
# What marks an answer replayed from a bundle (nbllm.replay) in tables and widgets.
RECORDED_BADGE = (
    '<span class="nbllm-recorded" title="replayed from a bundle, not generated now" style="background:#fef3c7;'
    'color:#92400e;border-radius:3px;padding:0 4px;font-size:11px;white-space:nowrap">recorded</span>'
)


def results_html(results: Any, max_rows: int = 200, scores: list[str] | tuple[str, ...] = ()) -> str:
    """An HTML table of any nbllm result set (or of a DataFrame from ``to_dataframe``);
    `scores` are columns of scores shown after the answer, to three significant digits."""
    import pandas as pd

    from nbllm.notebook.display.frames import to_dataframe

    frame = results if isinstance(results, pd.DataFrame) else to_dataframe(results)
    present = set(frame.columns) | ({"stats"} if set(STATS) & set(frame.columns) else set())
    columns = [c for c in SHOWN if c in present and not (c in SPARSE and _empty(frame[c]))]
    if scores:
        at = columns.index("generation") + 1 if "generation" in columns else len(columns)
        columns[at:at] = [c for c in scores if c in frame.columns]
    head = "".join(
        f"<th{'' if c in ('input', 'generation', 'votes') else ' class=short'}>"
        f"{html.escape(HEADERS.get(c, c.replace('_', ' ')))}</th>"
        for c in columns
    )
    body = []
    for _, row in frame.head(max_rows).iterrows():
        cells = []
        for c in columns:
            value = row.get(c)
            if c in ("input", "generation", "votes"):
                thinking = _thinking_html(row) if c == "generation" else ""
                cells.append(
                    f'<td class="text {c}"><div>{thinking}{html.escape(trimmed(_text(value)))}</div></td>'
                )
            elif c == "error":
                cells.append(
                    f'<td class="err">{html.escape(str(value)) if isinstance(value, str) else ""}</td>'
                )
            elif c in scores:
                cells.append(
                    f'<td class="num">{value:.3g}</td>'
                    if _number(value)
                    else f"<td>{html.escape(_text(value))}</td>"
                )
            elif c == "stats":
                cells.append(f'<td class="stats">{_stats(row)}</td>')
            elif c == "cache_hit":
                cells.append(f"<td>{'✓' if value is True else ''}</td>")
            elif c == "recorded":
                cells.append(f"<td>{RECORDED_BADGE if value is True else ''}</td>")
            else:
                shown = html.escape(_text(value))
                cells.append(
                    f'<td class="num">{shown}</td>' if c == "generation_index" else f"<td>{shown}</td>"
                )
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p>{len(frame) - max_rows} more rows: use to_dataframe() to see them all.</p>"
        if len(frame) > max_rows
        else ""
    )
    parts = [f"<b>{len(frame)}</b> generations"]
    for column, label in (("input_tokens", "input tokens"), ("output_tokens", "output tokens")):
        if column in frame:
            parts.append(f"{int(frame[column].sum())} {label}")
    if "cache_hit" in frame:
        parts.append(f"{int(frame['cache_hit'].astype(bool).sum())} from the cache")
    if "recorded" in frame and frame["recorded"].astype(bool).any():
        parts.append(
            f"{int(frame['recorded'].astype(bool).sum())} {RECORDED_BADGE} (replayed, not generated)"
        )
    if "error" in frame and frame["error"].notna().any():
        errors = int(frame["error"].notna().sum())
        parts.append(f"<b>{errors} {'error' if errors == 1 else 'errors'}</b>")
    summary = f"<p>{' · '.join(parts)}</p>"
    return (
        f'{STYLE}{summary}<div class="nbllm-scroll"><table class="nbllm-results"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
    )


WIDE_STYLE = (
    "<style>.nbllm-wide{border-collapse:collapse;font-size:13px;table-layout:fixed;width:100%}"
    ".nbllm-wide.nbllm-wide th{background:#f3f4f6;text-align:left;padding:4px 8px;border-bottom:2px solid #d1d5db;"
    "overflow-wrap:anywhere}"
    # doubled class: JupyterLab right-aligns output table cells with a two-class selector
    ".nbllm-wide.nbllm-wide td{padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top;text-align:left;"
    "white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.45em}"
    ".nbllm-wide.nbllm-wide th.num{width:6.5em;overflow-wrap:normal}"
    ".nbllm-wide.nbllm-wide td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".nbllm-wide details summary{cursor:pointer;color:#374151}"
    ".nbllm-wide caption{caption-side:top;text-align:left;color:#4b5563;padding:2px 0 6px}"
    ".nbllm-wide .nbllm-note{color:#6b7280;font-size:11px;white-space:normal;margin-top:3px}"
    "</style>"
)
_LEADING_BLANKS = re.compile(r"\A(?:[ \t]*\r?\n)+")
CLAMP = 280  # characters shown before a long answer folds away behind "show all"


def wide_html(
    wide: Any,
    caption: str | None = None,
    max_rows: int = 200,
    notes: dict[tuple[Any, str], str] | None = None,
    others: dict[tuple[Any, str], list[tuple[str, int]]] | None = None,
) -> str:
    """A side-by-side table (from ``to_wide`` or ``compare``) that fits the page: columns share
    the width, every answer wraps in full, left-aligned, and a long one folds behind a
    "show all" toggle (plain HTML, so it works on GitHub and in exported notebooks too).
    `notes` puts a summary line under a cell, by (input_index, column); `others` folds the
    cell's other answers (with how many samples gave each) behind a toggle."""

    numeric = {"input_index", "generation_index"}
    # nbllm's own column names read as words; variant labels (model names) stay as they are
    head = "".join(
        f"<th class=num>{c.replace('_', ' ')}</th>" if c in numeric else f"<th>{html.escape(str(c))}</th>"
        for c in wide.columns
    )
    rows = []
    for _, row in wide.head(max_rows).iterrows():
        cells = []
        for column in wide.columns:
            value = row[column]
            text = trimmed(_text(value))
            extra = (notes or {}).get((row.get("input_index"), column))
            below = f'<div class="nbllm-note">{_badged(extra)}</div>' if extra else ""
            rest = (others or {}).get((row.get("input_index"), column))
            if rest:
                items = "".join(f"<li>{html.escape(trimmed(str(a)))} <i>({n}×)</i></li>" for a, n in rest)
                other = "1 other answer" if len(rest) == 1 else f"{len(rest)} other answers"
                below += f"<details><summary>{other}</summary><ul>{items}</ul></details>"
            if column in numeric:
                cells.append(f'<td class="num">{html.escape(text)}</td>')
            elif len(text) > CLAMP:
                cells.append(
                    f"<td><details><summary>{html.escape(text[:CLAMP])}… <i>show all</i></summary>"
                    f"{html.escape(text[CLAMP:])}</details>{below}</td>"
                )
            else:
                cells.append(f"<td>{html.escape(text)}{below}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    more = f"<p>{len(wide) - max_rows} more rows in the DataFrame.</p>" if len(wide) > max_rows else ""
    return (
        f'{WIDE_STYLE}<table class="nbllm-wide">{title}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def trimmed(text: str) -> str:
    """`text` as a cell shows it: without the blank lines a model may put before or after an
    answer (the data keeps them)."""
    return _LEADING_BLANKS.sub("", text).rstrip()


def _stats(row: Any) -> str:
    """A generation's numbers in short lines: tokens in → out, how many of those were thinking,
    then seconds and speed (every generated token counts)."""
    got = {name: row.get(name) for name in (*STATS, "reasoning_tokens") if _number(row.get(name))}
    tokens = " → ".join(str(int(got[n])) for n in ("input_tokens", "output_tokens") if n in got)
    thinking = f"{int(got['reasoning_tokens'])} thinking" if got.get("reasoning_tokens") else ""
    time = []
    if "latency" in got:
        time.append(f"{got['latency']:.2f} s")
    if "tokens_per_second" in got:
        time.append(f"{got['tokens_per_second']:.0f} tok/s")
    lines = (f"{tokens} tokens" if tokens else "", thinking, " · ".join(time))
    return "<br>".join(part for part in lines if part)


def _thinking_html(row: Any) -> str:
    """A reasoning model's thinking, folded above its answer."""
    thinking = _text(row.get("reasoning"))
    if not thinking:
        return ""
    return (
        '<details class="nbllm-thinking" style="color:#6b7280"><summary>thinking</summary>'
        f"{html.escape(trimmed(thinking))}</details>"
    )


def _text(value: Any) -> str:
    """A cell's value as text: nothing for a missing one (never "None" or "nan")."""
    import pandas as pd

    missing = value is None or (
        not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)
    )
    return "" if missing else str(value)


def _number(value: Any) -> bool:
    import math
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _empty(column: Any) -> bool:
    """True when no row of `column` holds anything: no text, no True, no number."""
    import pandas as pd

    def filled(v: Any) -> bool:
        return v != "" if isinstance(v, str) else v is not None and not pd.isna(v) and bool(v)

    return not any(filled(v) for v in column)


def _badged(note: str) -> str:
    """A cell's note with its "recorded" part shown as the badge."""
    parts = [html.escape(p) for p in note.split(" · ")]
    return " · ".join(
        RECORDED_BADGE
        if p == "recorded"
        else p.replace(" recorded", " " + RECORDED_BADGE)
        if p.endswith(" recorded")
        else p
        for p in parts
    )


def show(results: Any) -> Any:
    """Display any result set as the HTML table (returns an object Jupyter renders); a wide
    frame from ``to_wide`` shows side by side, every answer in full."""
    import pandas as pd
    from IPython.display import HTML

    if isinstance(results, pd.DataFrame) and "generation" not in results.columns:
        return HTML(wide_html(results))
    return HTML(results_html(results))


def markdown_html(text: str) -> str:
    """A model's answer rendered as Markdown, with any HTML in it shown as text: the answer is
    not nbllm's to trust (a prompt can make a model write a script tag)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)

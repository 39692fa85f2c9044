"""A comparison as something to send: one self-contained HTML report (tables, plot, scores,
settings, models, nbllm's version and the date; no script, no network), the frames as CSV or
Parquet, the log as JSON Lines, and an interactive table that works offline (itables).

Runs on the caller's thread (file writes, a PNG of the plot).
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nbllm.errors import MissingDependencyError

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1200px}}
img{{max-width:100%;height:auto}}
table.nbllm-scores{{border-collapse:collapse;font-size:13px;margin:1em 0}}
table.nbllm-scores th,table.nbllm-scores td{{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left}}
details.nbllm-every>summary{{cursor:pointer;font-size:1.3em;font-weight:bold;margin:1em 0}}
table.nbllm-meta td{{padding:2px 12px 2px 0;vertical-align:top}}
.nbllm-note{{color:#555;font-size:0.85em;margin-top:4px}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def body_html(comparison: Any) -> str:
    """The comparison as HTML: the side-by-side table with a summary line under each cell, the
    scores against the baseline in words, and the plot as an inline PNG."""
    from nbllm.notebook.compare.cells import note
    from nbllm.notebook.display.html import wide_html

    notes: dict[tuple[Any, str], str] = {}
    others: dict[tuple[Any, str], list[tuple[str, int]]] = {}
    cells = comparison.cells
    if cells is not None and len(cells):
        for _, cell in cells.iterrows():
            key = (cell["input_index"], cell["variant"])
            notes[key] = note(cell, comparison.scores, comparison.marks.get(key, []))
            if cell["samples"] > 1:
                others[key] = [(o["answer"], o["count"]) for o in cell["others"]]
    parts = [wide_html(comparison.wide, caption=comparison.caption, notes=notes, others=others)]
    if comparison.marks:
        parts.append("<p class='nbllm-note'>* this cell's samples score differently from the same input's "
                     f"samples under {html.escape(comparison.labels[0])} (a permutation test, p &lt; 0.05).</p>")  # fmt: skip
    if comparison.scores and len(comparison.labels) > 1:
        table = comparison.score_table()
        parts.append(
            table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3g}", classes="nbllm-scores")
        )
    parts.append(
        f'<img alt="{html.escape(comparison.caption)}" src="data:image/png;base64,{_png(comparison.figure)}"/>'
    )
    return "".join(parts)


def write_report(comparison: Any, path: Path) -> Path:
    """Write the report to `path` (``.html`` is added when it has no suffix)."""
    nbllm_version = installed_version()
    path = path if path.suffix else path.with_suffix(".html")
    meta = {
        "models": ", ".join(comparison.models) or "?",
        "variants": ", ".join(comparison.labels),
        "shared options": ", ".join(f"{k}={v}" for k, v in comparison.options.items()) or "none",
        "scorers": ", ".join(comparison.scores) or "none",
        "samples per cell": int(comparison.cells["samples"].max())
        if comparison.cells is not None and len(comparison.cells)
        else 0,
        "nbllm": nbllm_version,
        "created": comparison.created,
    }
    rows = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>" for k, v in meta.items()
    )
    body = f"<table class='nbllm-meta'>{rows}</table>" + body_html(comparison)
    from nbllm.notebook.display.html import results_html

    long = comparison.long
    body += (
        f"<details class='nbllm-every'><summary>Every sample ({len(long)} rows)</summary>"
        + results_html(long, max_rows=len(long), scores=comparison.scores)
        + "</details>"
    )
    path.write_text(PAGE.format(title="nbllm comparison", body=body), encoding="utf-8")
    return path


def installed_version() -> str:
    """The version of the nbllm that made a report or a saved run."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nbllm")
    except PackageNotFoundError:
        return "unknown (not installed)"


def parquet(frame: Any, path: Path) -> Path:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MissingDependencyError("Parquet export needs pyarrow: pip install 'nbllm[compare]'") from None
    frame.to_parquet(path, index=False)
    return path


def write_log(llms: list[Any], path: Path) -> Path:
    """Every log entry of `llms` (each LLM once), oldest first, as JSON lines."""
    entries = []
    for llm in {id(m): m for m in llms}.values():
        entries.extend({"llm": llm.model_name, **asdict(e)} for e in llm.engine.log.entries)
    entries.sort(key=lambda e: e["time"])
    with path.open("w", encoding="utf-8") as out:
        for entry in entries:
            out.write(json.dumps(entry, default=str) + "\n")
    return path


def interactive(frame: Any) -> Any:
    """An itables table in offline mode (its JavaScript inlined: no network needed).

    Only this table becomes interactive: ``itables.init_notebook_mode`` would make every later
    DataFrame in the kernel a DataTable, and its dark-theme script runs before the library it
    awaits is defined (an error in the browser's console)."""
    try:
        from itables import to_html_datatable
        from itables.javascript import generate_init_offline_itables_html
        from itables.options import dt_bundle
    except ImportError:
        raise MissingDependencyError(
            "interactive tables need itables: pip install 'nbllm[compare]'"
        ) from None
    from IPython.display import HTML

    # long texts (prompts, answers) get room to read; every column reads left to right
    texts = [
        i
        for i, c in enumerate(frame.columns)
        if frame[c].map(lambda v: isinstance(v, str) and len(v) > 30).any()
    ]
    column_defs = [
        {"className": "dt-left nbllm-text", "targets": texts},
        {"className": "dt-left", "targets": "_all"},
    ]
    # allow_html=False even if the user allowed HTML for their own tables: answers are text
    table = to_html_datatable(
        frame,
        classes="display wrap compact",
        maxBytes=0,
        connected=False,
        allow_html=False,
        columnDefs=column_defs,
        scrollX=True,
    )
    style = "<style>.dataTable td.nbllm-text{min-width:18em;white-space:pre-wrap}</style>"
    return HTML(style + generate_init_offline_itables_html(dt_bundle) + table)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")  # a legend outside the axes is kept
    return base64.b64encode(buffer.getvalue()).decode()

"""MkDocs hook: the performance page's numbers come from benchmarks/results/*.json at build time.

``python benchmarks/run.py`` writes ``latest.json`` (with the date and the machine); a partial
run can write another file (``--out``). Every figure is taken from ``latest.json`` when it holds
one with that label ("1a", "3b", ...), otherwise from the most recent other file that does.

In docs/performance.md:

- ``{{ tables }}`` becomes one table per results file, headed by its date and machine;
- ``{{ 1d | ratio }}`` becomes one figure's value: ``ratio`` (``2.76x``), ``nbllm`` or
  ``baseline`` (``4.411 s``), ``target``, ``met`` (``met``, ``not met`` or ``reported``),
  ``note`` or ``date``. Where two figures share a label, ``{{ 1a ~ cache off | ratio }}``
  picks the one whose name contains the text after ``~``.

A placeholder naming no figure (or two) fails the build, so the prose cannot quote a number the
table does not show.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PAGE = "performance.md"
VALUE = re.compile(r"\{\{\s*([0-9a-z]+)\s*(?:~\s*([^|}]+?)\s*)?\|\s*([a-z]+)\s*\}\}")


@dataclass
class Run:
    path: Path
    date: str
    machine: str
    figures: list[dict[str, Any]]


def _escaped(text: str) -> str:
    """Text as Markdown shows it literally: a note such as ``answered {'bare': 2000}`` would
    otherwise be read as an attribute list, ``*`` as emphasis, ``|`` as a table cell's end."""
    return re.sub(r"([\\`*_{}\[\]|])", r"\\\1", text)


def _label(figure: dict[str, Any]) -> str:
    return figure["name"].split()[0]


def runs() -> list[Run]:
    """Each results file with the figures it is the source of: latest.json first, then by date."""
    loaded = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        missing = {"date", "machine", "figures"} - set(data)
        if missing:
            raise PluginError(f"{path}: no {', '.join(sorted(missing))} (benchmarks/run.py writes them)")
        loaded.append(Run(path, data["date"], data["machine"], data["figures"]))
    if not any(run.path.name == "latest.json" for run in loaded):
        raise PluginError(f"no latest.json in {RESULTS}: run python benchmarks/run.py")
    loaded.sort(key=lambda run: run.date, reverse=True)
    loaded.sort(key=lambda run: run.path.name != "latest.json")  # stable: the rest stay by date
    seen: set[str] = set()
    for run in loaded:
        run.figures = [f for f in run.figures if _label(f) not in seen]
        seen.update(_label(f) for f in run.figures)
    return [run for run in loaded if run.figures]


def value(figure: dict[str, Any], field: str, run: Run) -> str:
    if field in ("nbllm", "baseline"):
        return f"{figure[field]:.3f} {figure['unit']}"
    if field == "ratio":
        return f"{figure['ratio']:.2f}x"
    if field == "met":
        return "reported" if figure["target"] == "report" else "met" if figure["met"] else "not met"
    if field == "date":
        return run.date
    if field in ("target", "note"):
        return str(figure[field])
    raise PluginError(f"{PAGE}: no field {field!r} (ratio, nbllm, baseline, target, met, note, date)")


def table(run: Run) -> str:
    lines = [
        f"Measured on **{run.date}**, {run.machine} (`benchmarks/results/{run.path.name}`):",
        "",
        "| figure | nbllm | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in run.figures:
        note = f" — {f['note']}" if f.get("note") else ""
        met = {"reported": "—", "met": "yes", "not met": "NO"}[value(f, "met", run)]
        cells = [f["name"], value(f, "nbllm", run), value(f, "baseline", run), value(f, "ratio", run)]
        lines.append("| " + " | ".join(_escaped(c) for c in [*cells, f["target"], met + note]) + " |")
    return "\n".join(lines)


def render(markdown: str, found: list[Run]) -> str:
    by_label: dict[str, list[tuple[dict[str, Any], Run]]] = {}
    for run in found:
        for f in run.figures:
            by_label.setdefault(_label(f), []).append((f, run))

    def one(match: re.Match[str]) -> str:
        label, text, field = match.groups()
        candidates = [(f, r) for f, r in by_label.get(label, []) if text is None or text in f["name"]]
        if len(candidates) != 1:
            names = [f["name"] for f, _ in by_label.get(label, [])] or "none"
            raise PluginError(f"{PAGE}: {match.group(0)} matches {len(candidates)} figures ({names})")
        figure, run = candidates[0]
        return _escaped(value(figure, field, run))

    markdown = markdown.replace("{{ tables }}", "\n\n".join(table(run) for run in found))
    markdown = VALUE.sub(one, markdown)
    if "{{" in markdown:
        raise PluginError(f"{PAGE}: a placeholder is not understood: {markdown[markdown.index('{{') :][:60]}")
    return markdown


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    return render(markdown, runs())

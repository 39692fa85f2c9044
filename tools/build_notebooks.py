"""Writes notebooks/*.ipynb from their sources, notebooks/sources/*.py (jupytext's percent
format: ruff lints and formats them like any module), saved without outputs or widget state.

    python tools/build_notebooks.py          # write every notebook
    python tools/build_notebooks.py --check  # exit 1 when a notebook differs from its source

Edit the source, run this, commit both; tests/notebook/test_sources.py fails when they differ.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = ROOT / "sources"


def notebook(source: Path) -> nbformat.NotebookNode:
    """The notebook a source describes: its cells, numbered, with no metadata of their own."""
    nb = jupytext.read(source, fmt="py:percent")
    built = nbformat.v4.new_notebook()
    built.cells = [
        nbformat.v4.new_markdown_cell(c.source)
        if c.cell_type == "markdown"
        else nbformat.v4.new_code_cell(c.source)
        for c in nb.cells
    ]
    for i, cell in enumerate(built.cells):
        cell.id = f"cell-{i}"
    return built


def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    return [(c.id, c.cell_type, c.source) for c in nb.cells]


def differing() -> list[str]:
    """Names of the notebooks whose cells are not what their sources say (or that have none)."""
    sources = {p.stem: p for p in SOURCES.glob("*.py")}
    written = {p.stem: p for p in ROOT.glob("*.ipynb")}
    wrong = sorted(set(sources) ^ set(written))
    for stem in sorted(set(sources) & set(written)):
        if cells(notebook(sources[stem])) != cells(nbformat.read(written[stem], as_version=4)):
            wrong.append(stem)
    return wrong


def build() -> None:
    for source in sorted(SOURCES.glob("*.py")):
        nbformat.write(notebook(source), ROOT / f"{source.stem}.ipynb")
    # The kernel's own metadata, so the notebooks open unmodified (Binder's postBuild does the same).
    prepare = runpy.run_path(str(ROOT.parent / "binder" / "prepare_notebooks.py"))["prepare"]
    prepare(ROOT)


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        wrong = differing()
        print("\n".join(f"{name}.ipynb differs from sources/{name}.py" for name in wrong) or "all built")
        sys.exit(1 if wrong else 0)
    build()

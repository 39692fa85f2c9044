"""Each lesson is written as a percent-format source (notebooks/sources/*.py) and built into
its .ipynb; the committed notebooks are exactly what their sources build."""

from __future__ import annotations

import runpy
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
BUILD = runpy.run_path(str(ROOT / "tools" / "build_notebooks.py"))


def test_every_notebook_is_built_from_its_source() -> None:
    sources = sorted(p.stem for p in (ROOT / "notebooks" / "sources").glob("*.py"))
    assert sources == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert BUILD["differing"]() == []


def test_a_changed_source_is_found(tmp_path: Path) -> None:
    source = ROOT / "notebooks" / "sources" / "01_quickstart.py"
    changed = tmp_path / "01_quickstart.py"
    changed.write_text(source.read_text().replace("import nbllm", "import nbllm  # edited", 1))
    built = BUILD["cells"](BUILD["notebook"](changed))
    committed = BUILD["cells"](nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4))
    assert built != committed
    assert [c[0] for c in built] == [c[0] for c in committed]  # the same cells, numbered alike

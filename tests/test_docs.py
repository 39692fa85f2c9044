"""The documentation site (mkdocs.yml, docs/) builds with `mkdocs build --strict`: its
performance page shows the numbers of benchmarks/results/latest.json, its API reference the
docstrings of nbllm's public names, its lessons every notebook. A public name without a
docstring, or a broken link, fails the build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbllm

ROOT = Path(__file__).resolve().parents[1]


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of the tree at root, importing that tree's nbllm."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_MKDOCS_2_WARNING": "1"}
    config = ["--config-file", str(root / "mkdocs.yml"), "--site-dir", str(site)]
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", *config],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    done = build(ROOT, out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


def test_every_public_name_has_a_reference_entry() -> None:
    pages = [*sorted((ROOT / "docs" / "reference").glob("*.md")), ROOT / "docs" / "errors.md"]
    entries = [m for p in pages for m in re.findall(r"^::: nbllm\.(\w+)$", p.read_text(), re.M)]
    assert sorted(entries) == sorted(nbllm.__all__), set(entries) ^ set(nbllm.__all__)


def test_the_performance_page_shows_latest_json(site: Path) -> None:
    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    html = page(site, "performance")
    assert latest["date"] in html and latest["machine"] in html
    for figure in latest["figures"]:
        assert f"{figure['nbllm']:.3f} {figure['unit']}" in html, figure["name"]
        assert f"{figure['baseline']:.3f} {figure['unit']}" in html, figure["name"]
        assert f"{figure['ratio']:.2f}x" in html, figure["name"]
    assert "{{" not in html


def test_the_api_reference_shows_docstrings(site: Path) -> None:
    first_line = nbllm.LLM.__doc__.strip().splitlines()[0]
    assert first_line == "A language model with validated defaults, a cache, a chat history and statistics."
    assert first_line in page(site, "reference/llms")
    assert nbllm.CacheError.__doc__.strip() in page(site, "errors")


def test_every_lesson_is_a_page(site: Path) -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 8
    for notebook in notebooks:
        title = json.loads(notebook.read_text())["cells"][0]["source"][0].lstrip("# ").strip()
        assert title in page(site, f"notebooks/{notebook.stem}"), notebook.name


def test_the_readmes_links_into_the_docs_resolve(site: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+\.md)(?:#([^)]+))?\)", readme)
    assert len(links) >= 10
    for path, anchor in links:
        assert (ROOT / path).exists(), path
        built = Path(path).relative_to("docs").with_suffix("")
        html = page(site, "" if built.name == "index" else str(built))
        assert not anchor or f'id="{anchor}"' in html, (path, anchor)


def test_a_missing_docstring_or_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for part in ("mkdocs.yml", "docs", "nbllm", "notebooks", "benchmarks/results"):
        source, target = ROOT / part, tree / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.gguf.part*"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    errors = tree / "nbllm" / "errors.py"
    docstring = f'    """{nbllm.CacheError.__doc__}"""\n'
    assert docstring in errors.read_text()
    errors.write_text(errors.read_text().replace(docstring, "    pass\n"))
    index = tree / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [a page that is not there](missing.md).\n")

    done = build(tree, tmp_path / "site")
    said = done.stdout + done.stderr
    assert done.returncode != 0, said[-3000:]
    assert "nbllm.CacheError: public, but has no docstring" in said, said[-3000:]
    assert "missing.md" in said and "strict mode" in said, said[-3000:]

"""nbllm's JupyterLab extension (labextension/): the committed build is of the committed
source, an install ships every file of it, and this environment's JupyterLab finds it."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PREBUILT = ROOT / "labextension" / "prebuilt"


def test_the_prebuilt_extension_is_built_from_the_source() -> None:
    source = hashlib.sha256((ROOT / "labextension" / "src" / "index.js").read_bytes()).hexdigest()
    built = (PREBUILT / "source.sha256").read_text().strip()
    assert built == source, "labextension/src changed: run tools/build_labextension.sh and commit"
    meta = json.loads((PREBUILT / "package.json").read_text())
    assert meta["name"] == "nbllm-lab"
    assert (PREBUILT / meta["jupyterlab"]["_build"]["load"]).is_file()


def test_an_install_ships_every_file_of_the_extension() -> None:
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped: set[Path] = set()
    for patterns in data_files.values():
        for pattern in patterns:
            shipped.update(ROOT.glob(pattern))
    needed = {p for p in PREBUILT.rglob("*") if p.is_file() and p.name != "source.sha256"}
    assert needed <= shipped, sorted(str(p.relative_to(ROOT)) for p in needed - shipped)
    assert "share/jupyter/labextensions/nbllm-lab/static" in data_files


def test_jupyterlab_finds_the_extension_here() -> None:
    from jupyter_core.paths import jupyter_path
    from jupyterlab_server.config import get_federated_extensions

    found = get_federated_extensions(jupyter_path("labextensions"))
    assert "nbllm-lab" in found, (
        f"not installed in {sys.prefix}: pip install . (or tools/link_labextension.py)"
    )
    extension = found["nbllm-lab"]
    assert (Path(extension["ext_path"]) / extension["jupyterlab"]["_build"]["load"]).is_file()


def test_jupyterlab_asks_no_news_question_where_nbllm_is_installed() -> None:
    """A class opening JupyterLab meets no "get notified about Jupyter news?" popup: the
    extension turns off JupyterLab's announcements plugin (news and update checks)."""
    from jupyter_core.paths import jupyter_path
    from jupyterlab_server.config import get_page_config

    config = get_page_config(jupyter_path("labextensions"))
    assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]

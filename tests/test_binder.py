"""Binder: repo2docker picks up binder/, and an environment built from those files runs every
notebook. The files need no extra index, and nothing but nbllm is built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_repo2docker_picks_up_the_binder_files() -> None:
    repo2docker = shutil.which("jupyter-repo2docker")
    assert repo2docker, "jupyter-repo2docker is part of the test extras"
    result = subprocess.run(
        [repo2docker, "--no-build", "--debug", str(ROOT)], capture_output=True, text=True, timeout=300
    )
    dockerfile = result.stdout + result.stderr
    assert "binder/requirements.txt" in dockerfile
    assert "binder/postBuild" in dockerfile or "postBuild" in dockerfile


def test_readme_badge_opens_the_quickstart() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/badge_logo.svg" in readme
    assert "urlpath=lab/tree/notebooks/01_quickstart.ipynb" in readme
    assert (ROOT / "notebooks" / "01_quickstart.ipynb").exists()


RUN_NOTEBOOKS = """
import sys, pathlib, nbformat
from nbclient import NotebookClient
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    print("OK", path.name, flush=True)
"""


@pytest.mark.timeout(1800)
def test_a_fresh_environment_from_the_binder_files_runs_every_notebook(tmp_path: Path) -> None:
    env_dir = tmp_path / "binder-env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    requirements = ROOT / "binder" / "requirements.txt"
    assert "index-url" not in requirements.read_text() and "llama-cpp-python" not in requirements.read_text()
    env = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),  # postBuild's trust database
    }
    env.pop("PYTHONPATH", None)

    def run(*args: str, cwd: Path = ROOT) -> None:
        done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run(str(python), "-m", "pip", "install", "-q", "-r", str(requirements))
    # repo2docker copies the repository and runs postBuild from its root
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", "build", "node_modules"),
    )
    run(str(python), "-m", "pip", "install", "-q", "nbclient", "ipykernel")  # what Binder's base image has
    run("bash", "binder/postBuild", cwd=copy)
    # postBuild kept the widget state setting and made the notebooks open clean in this environment
    overrides = env_dir / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert '"saveState": true' in overrides.read_text()
    # nbllm's JupyterLab extension came with the install (a reopened notebook opens unmodified)
    extension = env_dir / "share" / "jupyter" / "labextensions" / "nbllm-lab"
    entry = json.loads((extension / "package.json").read_text())["jupyterlab"]["_build"]["load"]
    assert (extension / entry).is_file(), f"{entry} missing from the installed extension"
    for notebook in sorted((copy / "notebooks").glob("*.ipynb")):
        metadata = json.loads(notebook.read_text())["metadata"]
        assert metadata["kernelspec"]["display_name"] == "Python 3 (ipykernel)", notebook.name
        assert metadata["language_info"]["name"] == "python", notebook.name
    assert (tmp_path / "jupyter-data" / "nbsignatures.db").exists(), "the notebooks were not trusted"
    result = subprocess.run(
        [str(python), "-c", RUN_NOTEBOOKS, str(copy / "notebooks")],
        env={**env, "NBLLM_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.count("OK ") == len(list((ROOT / "notebooks").glob("*.ipynb")))

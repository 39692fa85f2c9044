"""The README's first command, run as written in a fresh virtual environment: it installs nbllm
and opens the quickstart notebook in JupyterLab. (The second command is what CI runs.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import venv
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    setup = (ROOT / "README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup)


def test_readme_has_exactly_two_setup_commands() -> None:
    first, second = readme_commands()
    assert "jupyter lab notebooks/01_quickstart.ipynb" in first
    assert second == "bash tools/test.sh"
    assert "python -m pytest" in (ROOT / "tools" / "test.sh").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert second in ci, "CI must run the README's test command"


@pytest.mark.timeout(1500)
def test_first_command_opens_the_quickstart_in_jupyterlab(tmp_path: Path) -> None:
    first = readme_commands()[0]
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    repo = tmp_path / "nbllm"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", "build", "test-artifacts"),
    )
    port = free_port()
    config = tmp_path / "jupyter-config"
    config.mkdir()
    # what a person's browser would do is left out: no browser, a fixed port, no token
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "port": port,
                    "ip": "127.0.0.1",
                    "token": "",
                    "open_browser": False,
                    "allow_root": True,
                }
            }
        )
    )
    env = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
        "JUPYTER_CONFIG_DIR": str(config),
        "NBLLM_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("PYTHONPATH", None)
    log = open(tmp_path / "command.log", "wb")
    proc = subprocess.Popen(
        ["bash", "-c", first], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 1200
        # opening a file serves its folder: the notebook sits at the root of the contents
        url = f"http://127.0.0.1:{port}/api/contents/01_quickstart.ipynb"
        while True:
            assert proc.poll() is None, (tmp_path / "command.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    notebook = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not come up"
                time.sleep(1)
        assert notebook["name"] == "01_quickstart.ipynb" and notebook["type"] == "notebook"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/lab/tree/01_quickstart.ipynb", timeout=10
        ) as page:
            assert b"JupyterLab" in page.read()
        check = subprocess.run(
            [
                str(env_dir / "bin" / "python"),
                "-c",
                "import nbllm; print(nbllm.embedded_model_path().exists())",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert check.stdout.strip() == "True"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

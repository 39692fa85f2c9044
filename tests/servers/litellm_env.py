"""LiteLLM's proxy in its own virtual environment (its pins must not touch the project's).

``python -m tests.servers.litellm_env`` creates it once (CI does this before the tests, so the
install is not inside a test's time limit) and prints the path of the ``litellm`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LITELLM = "litellm[proxy]==1.106.2"
HOME = Path(os.environ.get("NBLLM_LITELLM_VENV", Path.home() / ".cache" / "nbllm-tests" / "litellm-venv"))


def litellm_command(timeout: float = 900) -> Path:
    """The venv's ``litellm`` command, installing LiteLLM first if it is not there yet."""
    command = HOME / "bin" / "litellm"
    marker = HOME / f"installed-{LITELLM}"
    if command.exists() and marker.exists():
        return command
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(HOME)], check=True, timeout=120)
    done = subprocess.run(
        [str(HOME / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", LITELLM],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {LITELLM} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    marker.touch()
    return command


if __name__ == "__main__":
    print(litellm_command())

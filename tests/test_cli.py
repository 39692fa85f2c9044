"""The `nbllm generate` command, run as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run_cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBLLM_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "nbllm.cli", *args], capture_output=True, text=True, timeout=180, env=env
    )


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line[:1].isdigit()]


def test_generate_prints_generations_with_token_counts_then_serves_the_cache(tmp_path: Path) -> None:
    first = run_cli("generate", "What is the capital of France?", "-n", "2", cache_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "model: SmolLM2-135M-Instruct" in first.stdout
    table = rows(first.stdout)
    assert [r[0] for r in table] == ["0", "1"]
    assert all(int(r[1]) > 5 and int(r[2]) > 0 for r in table)  # input and output tokens
    assert all(r[5] == "no" for r in table)
    assert len(table[0]) > 7  # the generation's text follows the statistics

    second = run_cli("generate", "What is the capital of France?", "-n", "2", cache_dir=tmp_path)
    assert second.returncode == 0
    assert [r[5] for r in rows(second.stdout)] == ["yes", "yes"]
    assert [r[7:] for r in rows(second.stdout)] == [r[7:] for r in table]


def test_options_are_validated_with_a_clear_message(tmp_path: Path) -> None:
    result = run_cli("generate", "hi", "--temperature", "9", cache_dir=tmp_path)
    assert result.returncode == 2
    assert "temperature=9.0 is invalid" in result.stderr and "Traceback" not in result.stderr


def test_endpoint_flags_reach_the_openai_backend(llama_server: str, tmp_path: Path) -> None:
    result = run_cli(
        "generate",
        "Name a fruit.",
        "--model",
        "smollm2",
        "--base-url",
        llama_server,
        "--max-tokens",
        "10",
        cache_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "model: smollm2" in result.stdout and len(rows(result.stdout)) == 1


def test_the_readmes_cli_example_answers_paris(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    line = next(
        x for x in readme.splitlines() if x.startswith('nbllm generate "What is the capital of France?"')
    )
    import shlex

    args = shlex.split(line)[1:]  # exactly the README's command, as `python -m nbllm.cli`
    result = run_cli(*args, cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    texts = [" ".join(r[7:]) for r in rows(result.stdout)]
    assert len(texts) == 2 and all("Paris" in t for t in texts), result.stdout

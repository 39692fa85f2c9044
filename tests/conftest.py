"""Shared fixtures: a private cache folder, the embedded model, and a real llama.cpp server."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every LLM made by the tests caches into a private folder, never the user's.
os.environ["NBLLM_CACHE_DIR"] = tempfile.mkdtemp(prefix="nbllm-test-cache-")
# The assembled model files are shared by the whole run (tests that move the cache, their
# kernels and child processes included), so the embedded model is written once.
if "NBLLM_MODELS_DIR" not in os.environ:
    os.environ["NBLLM_MODELS_DIR"] = tempfile.mkdtemp(prefix="nbllm-test-models-")
    atexit.register(shutil.rmtree, os.environ["NBLLM_MODELS_DIR"], ignore_errors=True)

# The run's shared embedded servers (their records, locks and logs) live in a folder of its own:
# its kernels and child processes share them with the tests, never with a developer's kernels.
if "NBLLM_RUNTIME_DIR" not in os.environ:
    os.environ["NBLLM_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="nbllm-test-run-")
    os.environ.setdefault("NBLLM_SERVER_LINGER", "10")

import nbllm
from tests.scripted import ScriptedLLM
from tests.servers.fixtures import *  # noqa: F403 (the test servers' fixtures)

SERVER_ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server on 127.0.0.1 serving the embedded GGUF."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "llama_server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(nbllm.embedded_model_path()),
                "--model_alias",
                SERVER_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--verbose",
                "False",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", timeout=90, proc=proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_process(proc)


@pytest.fixture
def server_llm(llama_server: str, tmp_path: Path) -> nbllm.OpenAILLM:
    return nbllm.OpenAILLM(
        model=SERVER_ALIAS,
        base_url=llama_server,
        structured_output_mode="json_object",
        cache_path=str(tmp_path / "cache.sqlite3"),
    )


@pytest.fixture(scope="session")
def embedded_session() -> nbllm.LlamaCppLLM:
    """One loaded embedded model shared by tests that do not change its state."""
    llm = nbllm.LlamaCppLLM(cache=False)
    llm.load()
    return llm


@pytest.fixture
def embedded(tmp_path: Path) -> nbllm.LlamaCppLLM:
    """A fresh embedded LLM with its own cache file."""
    return nbllm.LlamaCppLLM(cache_path=str(tmp_path / "cache.sqlite3"))


@pytest.fixture
def scripted(tmp_path: Path) -> ScriptedLLM:
    return ScriptedLLM(cache_path=str(tmp_path / "cache.sqlite3"))

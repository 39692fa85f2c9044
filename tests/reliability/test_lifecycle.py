"""Lifecycle and portability: children stop when their ProcessLLM is dropped, generators share
one loaded default model, a model loads off the I/O loop, nbllm runs where `resource` is absent."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import nbllm
from nbllm.engine.usage import max_rss_to_mb
from tests.processes import gone

ROOT = Path(__file__).resolve().parents[2]


def _load_embedded():
    import nbllm

    return nbllm.LlamaCppLLM(n_threads=1)


@pytest.mark.slow
def test_a_dropped_process_llm_stops_its_child() -> None:
    member = nbllm.ProcessLLM(_load_embedded)
    assert member.model_name  # the child is up
    pid = member.pid
    assert pid is not None and not gone(pid)
    del member  # what rerunning the cell that made it does
    gc.collect()
    deadline = time.monotonic() + 60
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid), "the child outlived its ProcessLLM"


@pytest.mark.slow
def test_generators_without_an_llm_share_one_loaded_model() -> None:
    job = nbllm.Job(instruction="Answer briefly.", template="{input}")
    first, second = nbllm.Generator(job), nbllm.AsyncGenerator(job)
    assert first.llm is not second.llm  # each keeps its own parameters and history
    assert first.llm.server_process is second.llm.server_process  # but the model is loaded once


@pytest.mark.slow
def test_the_embedded_model_loads_off_the_io_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbllm.llms.llamacpp.shared import SharedServer

    loaded_on: list[str] = []
    address = SharedServer.address

    def watched(self: SharedServer) -> str:
        loaded_on.append(threading.current_thread().name)
        return address(self)

    monkeypatch.setattr(SharedServer, "address", watched)
    llm = nbllm.LlamaCppLLM(n_ctx=1024, cache=False)  # its own settings: a real start, not a shared one
    generator = nbllm.Generator(nbllm.Job(instruction="Answer.", template="{input}"), llm)
    generator.generate("Say yes.", max_tokens=4)
    assert loaded_on and "nbllm-io" not in loaded_on, loaded_on


def test_nbllm_runs_without_the_resource_module(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['resource'] = None\n"  # as on Windows: import resource fails
        "import nbllm\n"
        "from tests.scripted import ScriptedLLM\n"
        "g = ScriptedLLM(cache=False).generate('hi')[0].generations[0]\n"
        "print(g.ok, g.stats.peak_memory_mb >= 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "NBLLM_CACHE_DIR": str(tmp_path)},
    )
    assert out.stdout.strip() == "True True", out.stderr


def test_peak_memory_units_per_platform() -> None:
    assert max_rss_to_mb(512 * 1024, "linux") == 512.0  # KiB on Linux
    assert max_rss_to_mb(512 * 2**20, "darwin") == 512.0  # bytes on macOS

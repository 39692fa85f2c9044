"""The cache's writer thread ends when idle and lets its SQLite connection go: a chat with
pauses never runs out of file descriptors (one connection and two descriptors leaked per pause
before)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from nbllm.engine import cache_writer
from tests.scripted import ScriptedLLM


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def writer_ended(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(t.name == "nbllm-cache-writer" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the cache writer did not end"
        time.sleep(0.01)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_pauses_leak_no_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_writer, "IDLE_SECONDS", 0.05)
    llm = ScriptedLLM(cache_path=str(tmp_path / "c.sqlite3"))
    llm.generate(["warm up"])
    writer_ended()
    before = open_descriptors()
    for i in range(25):  # 25 pauses: a message, then the writer idles out
        llm.generate([f"message {i}"])
        writer_ended()
    assert open_descriptors() <= before + 2, (before, open_descriptors())

"""The cache's writer thread ends when idle and lets its SQLite connection go: a chat with
pauses never runs out of file descriptors (one connection and two descriptors leaked per pause
before). Growth is bounded, not zero: lookups run on executor threads that keep theirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbllm.engine import cache_writer
from tests.scripted import ScriptedLLM


def descriptors_on(path: Path) -> int:
    """This process's open descriptors on the cache file and its WAL files."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        found += target.startswith(str(path))
    return found


def writer_ended(writer: cache_writer.CacheWriter, timeout: float = 10.0) -> None:
    """Join the writer's thread: it lets go of `_thread` before it releases its connection, so
    the thread itself, not the attribute, says when the connection is closed."""
    thread = writer._thread
    if thread is not None:
        thread.join(timeout)
        assert not thread.is_alive(), "the cache writer did not end"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_pauses_leak_no_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_writer, "IDLE_SECONDS", 0.05)
    path = tmp_path / "c.sqlite3"
    llm = ScriptedLLM(cache_path=str(path))
    llm.generate(["warm up"])
    writer = llm.engine.recorder.writer
    writer_ended(writer)
    before = descriptors_on(path)
    for i in range(40):  # 40 pauses: a message, then the writer idles out
        llm.generate([f"message {i}"])
        writer_ended(writer)
    # Lookups run on asyncio's default executor, whose threads (at most `readers`) each keep a
    # connection (up to 3 descriptors: the file, its WAL and shared memory) for as long as they
    # live; a connection leaked per pause would add 80 or more.
    readers = min(32, (os.cpu_count() or 1) + 4)
    assert descriptors_on(path) <= before + 3 * readers, (before, descriptors_on(path))

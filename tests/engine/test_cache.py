from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from nbllm import OutputCache
from nbllm.engine.cache import cache_key


def test_key_depends_on_model_request_and_sample() -> None:
    base = cache_key({"m": 1}, {"p": "x"}, 0)
    assert base == cache_key({"m": 1}, {"p": "x"}, 0)
    assert base != cache_key({"m": 2}, {"p": "x"}, 0)
    assert base != cache_key({"m": 1}, {"p": "y"}, 0)
    assert base != cache_key({"m": 1}, {"p": "x"}, 1)


def test_put_get_and_lru_eviction(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path / "c.sqlite3", max_entries=3)
    for i in range(3):
        cache.put(f"k{i}", {"text": str(i)})
    cache.get("k0")  # k0 is now the most recently used
    cache.put("k3", {"text": "3"})  # one too many: the least recently used goes at once
    assert len(cache) == 3 and cache.evict() == 0
    assert set(cache.get_many(["k0", "k1", "k2", "k3"])) == {"k0", "k2", "k3"}


def test_eviction_counts_without_scanning_on_every_write(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path / "c.sqlite3", max_entries=50)
    counts = []
    cache._connect().set_trace_callback(lambda sql: counts.append(sql) if "COUNT(*)" in sql else None)
    for i in range(120):
        cache.put(f"k{i}", {"text": str(i)})
        assert len(cache) <= 50
    scans = len(counts) - 120  # len(cache) above counts too
    assert scans <= 72, scans  # one first count, then one per eviction (70 of them), not per write


def test_engine_marks_its_hits_as_used(tmp_path: Path) -> None:
    from tests.scripted import ScriptedLLM

    llm = ScriptedLLM(cache_path=str(tmp_path / "c.sqlite3"))
    llm.generate(["a", "b"])
    db = llm.engine.cache._connect()
    before = dict(db.execute("SELECT key, accessed FROM outputs"))
    llm.generate(["a"])  # a hit: its access time moves on, b's stays
    # the writer commits in order: once a later answer is stored, the hit's mark is too
    llm.generate(["c"])
    after = dict(db.execute("SELECT key, accessed FROM outputs"))
    moved = [k for k in before if after[k] > before[k]]
    assert len(moved) == 1, (before, after)


def test_concurrent_thread_writers(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path / "c.sqlite3")

    def write(worker: int) -> None:
        for i in range(50):
            cache.put(f"{worker}-{i}", {"text": f"{worker}-{i}"})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]
    assert len(cache) == 200


def _process_writer(path: str, worker: int) -> None:
    cache = OutputCache(path)
    for i in range(50):
        cache.put(f"p{worker}-{i}", {"text": "x"})


def test_concurrent_process_writers(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    OutputCache(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, w)) for w in range(3)]
    [p.start() for p in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(OutputCache(path)) == 150

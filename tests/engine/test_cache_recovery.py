"""A damaged, read-only or contended cache file never costs an answer and never shows a raw
sqlite3 traceback: nbllm recovers, or says what is wrong with which path and what to do."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbllm import CacheError, NBLLMWarning, OutputCache
from tests.scripted import ScriptedLLM


def _generate_with(path: Path) -> tuple[ScriptedLLM, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = ScriptedLLM(cache_path=str(path))
        (output,) = llm.generate("hello cache")
    assert output.generations[0].ok, output.generations[0].error
    return llm, list(caught)


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "outputs.sqlite3"
    path.write_bytes(os.urandom(8192))
    llm, caught = _generate_with(path)
    message = " ".join(str(w.message) for w in caught if issubclass(w.category, NBLLMWarning))
    assert str(path) in message and "moved it to" in message and "NBLLM_CACHE_DIR" in message
    assert list(tmp_path.glob("outputs.sqlite3.corrupt-*"))
    assert len(llm.engine.cache) == 1  # the new cache stores answers again
    assert ScriptedLLM(cache_path=str(path)).generate("hello cache")[0].generations[0].stats.cache_hit


def test_a_truncated_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "outputs.sqlite3"
    full = OutputCache(path)
    full.put_many((f"k{i}", {"text": "x" * 500, "stats": {}}) for i in range(400))
    full.close()  # the last connection folds the write-ahead log into the file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    llm, caught = _generate_with(path)
    assert any(issubclass(w.category, NBLLMWarning) and str(path) in str(w.message) for w in caught)
    assert len(llm.engine.cache) >= 1


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` read-only for this process: a read-only bind mount as root (root ignores
    permissions), plain permissions otherwise."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def test_a_read_only_folder_serves_what_it_has_and_stores_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "outputs.sqlite3"
    writer = ScriptedLLM(cache_path=str(path))
    known = writer.run("known question")
    writer.engine.cache.close()
    with read_only(folder):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            llm = ScriptedLLM(cache_path=str(path))
            hit, new = llm.generate(["known question", "new question"])
        assert hit.generations[0].stats.cache_hit and hit.generations[0].text == known
        assert new.generations[0].ok and not new.generations[0].stats.cache_hit
        assert any(str(path) in str(w.message) and "not stored" in str(w.message) for w in caught)
        assert not llm.engine.cache.writable
        llm.engine.cache.close()
    assert len(OutputCache(path)) == 1  # the new answer was not written


def test_an_unusable_folder_is_an_nbllm_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError) as info:
        ScriptedLLM(cache_path=str(blocker / "sub" / "outputs.sqlite3")).generate("x")
    assert str(blocker / "sub") in str(info.value) and "cache=False" in str(info.value)
    assert ScriptedLLM(cache=False).generate("x")[0].generations[0].ok  # the way out works


def _create_at(path: str, start_at: float, results: multiprocessing.Queue) -> None:
    while time.time() < start_at:
        pass
    try:
        cache = OutputCache(path)
        cache.put(f"from-{os.getpid()}", {"text": "ok", "stats": {}})
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_creating_the_cache_at_the_same_instant(tmp_path: Path) -> None:
    for round_ in range(3):
        path = str(tmp_path / f"race-{round_}.sqlite3")
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        start_at = time.time() + 0.5
        procs = [ctx.Process(target=_create_at, args=(path, start_at, results)) for _ in range(6)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert outcomes == ["ok"] * 6, outcomes
        assert len(OutputCache(path)) == 6


def test_cache_folder_can_be_moved_with_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBLLM_CACHE_DIR", str(tmp_path / "moved"))
    llm = ScriptedLLM()
    llm.run("where am I cached")
    assert llm.engine.cache.path.parent == tmp_path / "moved"
    shutil.rmtree(tmp_path / "moved")


def _damage(path: Path) -> None:
    """Overwrite the file past its header with random bytes, as a disk fault would."""
    size = max(path.stat().st_size, 65536)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(os.urandom(size - 100))


def test_a_file_damaged_while_in_use_is_set_aside_and_the_call_goes_on(tmp_path: Path) -> None:
    import concurrent.futures

    path = tmp_path / "outputs.sqlite3"
    llm = ScriptedLLM(cache_path=str(path))
    assert llm.generate("first")[0].generations[0].ok
    llm.engine.cache.close()  # the pages are in the main file, where the damage lands
    asides: list[Path] = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for attempt in range(2):  # twice within a second: each damaged file keeps its own copy
            _damage(path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                future = pool.submit(llm.generate, f"after damage {attempt}")
                (output,) = future.result(timeout=60)  # before the fix: it never returned
            assert output.generations[0].ok, output.generations[0].error
            assert any(
                "moved it to" in str(w.message) for w in caught if issubclass(w.category, NBLLMWarning)
            )
            asides = sorted(tmp_path.glob("outputs.sqlite3.corrupt-*[0-9a-f]"))
            assert len(asides) == attempt + 1, asides
            llm.engine.cache.close()
    assert llm.generate("after damage 1")[0].generations[0].stats.cache_hit  # the new file works

"""What happens around a generation never costs it: a raising listener, a locked cache, changed
settings; user callbacks and blocking work stay off the I/O loop; budgets are reserved."""

from __future__ import annotations

import sqlite3
import threading
import warnings
from pathlib import Path

import pytest

import nbllm
from nbllm import BudgetExceededError, NBLLMWarning, OutputCache
from nbllm.engine.requests import RawGeneration
from tests.scripted import ScriptedLLM


def test_a_raising_listener_keeps_the_generation(scripted: ScriptedLLM) -> None:
    def broken(_: nbllm.Generation) -> None:
        raise RuntimeError("listener bug")

    scripted.engine.listeners.append(broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (output,) = scripted.generate("keep me")
    g = output.generations[0]
    assert g.ok and g.text.startswith("reply-")
    assert any(issubclass(w.category, NBLLMWarning) and "listener bug" in str(w.message) for w in caught)
    assert scripted.generate("keep me")[0].generations[0].stats.cache_hit  # it was cached too


def test_a_locked_cache_write_keeps_the_generation(scripted: ScriptedLLM, tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    cache = OutputCache(path, busy_timeout=0.2)
    scripted.engine.configure(cache=cache)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (output,) = scripted.generate("still answered")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    g = output.generations[0]
    assert g.ok and g.text.startswith("reply-"), g.error
    assert any("could not be cached" in str(w.message) and "locked" in str(w.message) for w in caught)
    assert cache.get_many(["anything"]) == {}  # the cache works again once the lock is gone


def test_changing_settings_keeps_listeners_and_logging(scripted: ScriptedLLM, tmp_path: Path) -> None:
    seen: list[str] = []
    scripted.engine.listeners.append(lambda g: seen.append(g.text))
    scripted.enable_logging(tmp_path / "events.log")
    engine = scripted.engine
    scripted.max_retries = 1
    scripted.timeout = 5.0
    scripted.concurrency = 2
    scripted.cache_path = str(tmp_path / "other.sqlite3")
    scripted.cache = True
    assert scripted.engine is engine
    assert (engine.retry.max_retries, engine.retry.timeout, engine.concurrency) == (1, 5.0, 2)
    assert engine.cache is not None and engine.cache.path == tmp_path / "other.sqlite3"
    scripted.generate(["a", "b"])
    assert len(seen) == 2
    assert (tmp_path / "events.log").read_text().count('"component_id"') == 2


def test_callbacks_and_cache_io_run_off_the_io_loop(tmp_path: Path) -> None:
    threads: dict[str, set[str]] = {"read": set(), "write": set(), "listener": set(), "progress": set()}

    class WatchedCache(OutputCache):
        def get_many(self, keys, touch=True):
            threads["read"].add(threading.current_thread().name)
            return super().get_many(keys, touch)

        def put_many(self, items, touched=()):
            threads["write"].add(threading.current_thread().name)
            return super().put_many(items, touched)

    llm = ScriptedLLM(cache=False)
    llm.engine.configure(cache=WatchedCache(tmp_path / "c.sqlite3"))
    llm.engine.listeners.append(lambda _: threads["listener"].add(threading.current_thread().name))
    llm.generate(["x", "y"], progress=lambda *_: threads["progress"].add(threading.current_thread().name))
    assert all(names for names in threads.values()), threads
    assert not any("nbllm-io" == name for names in threads.values() for name in names), threads
    assert threads["write"] == {"nbllm-cache-writer"}
    assert all(name.startswith("nbllm-callbacks") for name in threads["listener"] | threads["progress"])


def test_budget_is_reserved_atomically_under_concurrency(tmp_path: Path) -> None:
    llm = ScriptedLLM(cache=False, concurrency=8, delay=0.05)
    # each request: about 10 input tokens estimated (3 used), 16 max output tokens (2 used)
    llm.budget = nbllm.Budget(price_per_input_token=1, price_per_output_token=1, max_cost=40)
    outputs = llm.generate([f"prompt number {i:03d}!" for i in range(32)])
    answered = [o for o in outputs if o.generations[0].ok]
    refused = [o for o in outputs if isinstance(o.generations[0].error, BudgetExceededError)]
    assert len(answered) + len(refused) == 32
    assert llm.budget.cost <= 40, llm.budget.cost  # before: concurrent checks let 8 through at once
    assert len(answered) >= 1 and llm.budget.reserved == 0


def test_a_sync_backend_loads_in_a_worker_thread(tmp_path: Path) -> None:
    loaded_on: list[str] = []

    class SlowLoading(nbllm.LLM):
        @property
        def model_name(self) -> str:
            return "slow-loading"

        def _check_ready(self) -> None:
            pass

        def load(self) -> None:
            loaded_on.append(threading.current_thread().name)

        def _generate_raw(self, request):
            return [RawGeneration("done", 1, 1, "stop")]

    assert SlowLoading(cache=False).run("hi") == "done"
    assert loaded_on and "nbllm-io" not in loaded_on


@pytest.mark.parametrize("field", ["max_retries", "concurrency"])
def test_invalid_settings_still_fail_by_name(scripted: ScriptedLLM, field: str) -> None:
    with pytest.raises(nbllm.InvalidParameterError, match=field):
        setattr(scripted, field, -1)

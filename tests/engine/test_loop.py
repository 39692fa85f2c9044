"""Sync calls work inside a running event loop; async calls work from any loop."""

from __future__ import annotations

import asyncio
import threading
import time

from nbllm.engine import loop
from tests.scripted import ScriptedLLM


def test_import_starts_no_thread() -> None:
    import subprocess
    import sys

    code = "import threading, nbllm; nbllm.LLM; print(threading.active_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1", out.stderr


def test_sync_generate_inside_a_running_loop(scripted: ScriptedLLM) -> None:
    async def cell():  # what a Jupyter cell is: code running inside the kernel's loop
        assert asyncio.get_running_loop().is_running()
        return scripted.run("inside a loop")

    assert asyncio.run(cell()).startswith("reply-")


def test_async_api_from_two_different_loops(scripted: ScriptedLLM) -> None:
    first = asyncio.run(scripted.arun("one"))
    second = asyncio.run(scripted.arun("two"))  # a new loop: the client still works
    assert first != second


def test_async_from_another_thread_loop(scripted: ScriptedLLM) -> None:
    results = []

    def worker():
        results.append(asyncio.run(scripted.arun("thread")))

    t = threading.Thread(target=worker)
    t.start()
    t.join(timeout=30)
    assert results and results[0].startswith("reply-")


def test_run_sync_from_the_io_loop_is_refused() -> None:
    async def nested():
        coro = asyncio.sleep(0)
        try:
            loop.run_sync(coro)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "await the async API" in loop.run_sync(nested())


def test_cancelling_a_sync_wait_cancels_the_work(scripted: ScriptedLLM) -> None:
    scripted.delay = 5
    future = loop.submit(scripted.agenerate_many("slow"))
    try:
        loop._wait(future, timeout=0.2)
    except TimeoutError:
        future.cancel()
    assert future.cancelled()


def test_cancelling_one_thunk_ends_the_batch_wait_and_cancels_the_rest(scripted: ScriptedLLM) -> None:
    from nbllm.engine.thunk import gather_thunks

    scripted.delay = 30  # nothing finishes by itself within the test
    scripted.cache = False
    thunks = [t for batch in scripted.submit(["a", "b", "c"]) for t in batch]

    async def wait() -> str:
        waiting = asyncio.ensure_future(gather_thunks(thunks))
        await asyncio.sleep(0)  # the wait is set up
        thunks[1].cancel()
        try:
            await asyncio.wait_for(waiting, 10)
        except asyncio.CancelledError:
            return "cancelled"
        return "finished"

    assert asyncio.run(wait()) == "cancelled"
    assert all(t._future.cancelled() for t in thunks)


def test_cancelling_one_sample_leaves_its_siblings_running(scripted: ScriptedLLM) -> None:
    scripted.delay = 0.3
    scripted.cache = False
    for inputs, n in (("one input", 3), (["a", "b", "c"], 1)):  # samples of one input; a batch
        sent = len(scripted.requests)
        thunks = [t for samples in scripted.submit(inputs, n) for t in samples]
        deadline = time.monotonic() + 10
        while len(scripted.requests) == sent and time.monotonic() < deadline:
            time.sleep(0.005)  # until the engine has started the work (its task exists)
        assert thunks[1].cancel()
        done = [t.result() for t in (thunks[0], thunks[2])]  # before the fix: CancelledError
        assert all(g.ok for g in done) and thunks[1]._future.cancelled()


def test_batch_wait_returns_generations_in_order_from_any_loop(scripted: ScriptedLLM) -> None:
    from nbllm.engine.thunk import gather_thunks

    scripted.cache = False
    thunks = [t for batch in scripted.submit(["a", "b", "c", "d"], 2) for t in batch]
    on_user_loop = asyncio.run(gather_thunks(thunks))  # another loop than nbllm's
    on_io_loop = loop.run_sync(gather_thunks(thunks))
    assert [g.sample_index for g in on_user_loop] == [0, 1] * 4
    assert [g.text for g in on_user_loop] == [g.text for g in on_io_loop]
    assert len({g.text for g in on_user_loop}) == 8

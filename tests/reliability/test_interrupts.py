"""Interrupting a batch keeps what finished and leaves nothing running; a rerun after an
interrupt or a kernel restart only generates what is missing; the cache survives a crash."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from nbllm import OutputCache
from tests.processes import wait_gone

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SLOW = 40  # prompts; the fault server answers each after ~0.2 s, four at a time


def test_keyboard_interrupt_keeps_finished_work_and_a_rerun_fills_the_rest(faults, tmp_path: Path) -> None:
    env = {**os.environ, "NBLLM_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(HERE.parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "interrupted_batch.py"), faults.base_url, str(SLOW)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE.parent.parent,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        while (line := proc.stdout.readline()) and line.strip() != "DONE 5":
            pass  # wait until five generations have finished: a readiness signal, not a sleep
        assert line, "the batch printed no progress"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(out.split("REPORT ", 1)[1])
    assert "finished_without_interrupt" not in report
    assert report["interrupt_seconds"] < 3, "the interrupt was not prompt"
    assert report["stray_tasks"] == 0
    # the main thread and nbllm's own (idle) threads: I/O loop, its worker pool, callbacks, cache
    # writer; nothing else is left running
    assert all(t == "MainThread" or t.startswith("nbllm-") for t in report["threads"]), report["threads"]
    assert 5 <= report["cached"] < SLOW  # what finished was kept
    assert report["rerun_hits"] == report["cached"] and report["rerun_ok"] and report["texts_aligned"]
    sent = faults.stats()["arrivals"]
    # each prompt reached the server once, except the few in flight when the interrupt came
    assert sum(len(v) for v in sent.values()) <= SLOW + 4
    assert all(len(v) <= 2 for v in sent.values())


def test_kernel_restart_mid_batch_then_rerun_generates_only_what_is_missing(faults, tmp_path: Path) -> None:
    os.environ["NBLLM_CACHE_DIR_FOR_KERNEL"] = str(tmp_path / "cache")
    progress = tmp_path / "progress.txt"
    cell = (
        "import os, nbllm\n"
        f"llm = nbllm.OpenAILLM(model='fault', base_url={faults.base_url!r}, concurrency=4, "
        "cache_path=os.environ['NBLLM_CACHE_DIR_FOR_KERNEL'] + '/c.sqlite3')\n"
        f"def mark(done, total): open({str(progress)!r}, 'a').write(f'{{done}}\\n')\n"
        f"out = llm.generate([f'restart {{i}}' for i in range({SLOW})], progress=mark)\n"
        "print('HITS', sum(g.stats.cache_hit for o in out for g in o.generations), 'OK', all(g.ok for o in out for g in o.generations))"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell)]
    client = NotebookClient(nb, timeout=120, kernel_name="python3")
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        import threading

        def kill_once_some_finished() -> None:  # the kernel dies mid-batch, after 5 generations
            deadline = time.monotonic() + 100
            while time.monotonic() < deadline:
                if progress.exists() and len(progress.read_text().split()) >= 5:
                    break
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_some_finished, daemon=True)
        killer.start()
        with pytest.raises((DeadKernelError, CellExecutionError)):
            client.execute_cell(nb.cells[0], 0)
        killer.join(timeout=10)
    done_before = sum(1 for v in faults.stats()["arrivals"].values())
    assert 5 <= done_before < SLOW
    fresh = nbformat.v4.new_notebook()
    fresh.cells = [nbformat.v4.new_code_cell(cell)]
    NotebookClient(fresh, timeout=120, kernel_name="python3").execute()  # a new kernel: the rerun
    printed = fresh.cells[0].outputs[-1]["text"]
    hits = int(printed.split()[1])
    assert "OK True" in printed and hits >= 5  # every generation that had finished was kept
    arrivals = faults.stats()["arrivals"]
    assert len(arrivals) == SLOW
    resent = sum(len(v) - 1 for v in arrivals.values())
    # Only those in flight at the crash (4 slots), or answered and still waiting for their commit:
    # a request gives its slot back before its commit, so one more per slot at most.
    assert resent <= 2 * 4, "finished generations were sent again"


def _write_forever(path: str, ready: str) -> None:
    cache = OutputCache(path)
    i = 0
    while True:
        cache.put(f"key-{i}", {"text": "x" * 2000, "stats": {}})
        i += 1
        if i == 20:
            Path(ready).write_text("writing")  # the test kills the writer only after this


def test_cache_is_consistent_after_a_crash_mid_write(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.sqlite3")
    OutputCache(path)
    ctx = multiprocessing.get_context("spawn")
    ready = tmp_path / "ready"
    writer = ctx.Process(target=_write_forever, args=(path, str(ready)))
    writer.start()
    deadline = time.monotonic() + 120
    while not ready.exists() and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready.exists(), "the writer never started writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(timeout=30)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT key, value FROM outputs").fetchall()
    assert len(rows) > 10
    assert all(json.loads(v)["text"] == "x" * 2000 for _, v in rows)
    cache = OutputCache(path)
    cache.put("after", {"text": "y"})
    assert cache.get("after") == {"text": "y"}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP holds the server in its start")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("interrupted", ["load", "count_tokens"])
def test_an_interrupt_while_the_server_starts_leaves_an_llm_that_works(interrupted: str) -> None:
    import _thread
    import threading

    import nbllm

    llm = nbllm.LlamaCppLLM(n_ctx=320 if interrupted == "load" else 352, cache=False)  # a server of its own
    process = llm.server_process
    stopped: list[int] = []

    def interrupt_once_it_runs() -> None:
        deadline = time.monotonic() + 60
        while process.proc is None and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the start to begin (a readiness signal)
        os.kill(process.proc.pid, signal.SIGSTOP)  # held mid-start: it cannot become ready
        stopped.append(process.proc.pid)
        _thread.interrupt_main()

    watcher = threading.Thread(target=interrupt_once_it_runs, daemon=True)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            getattr(llm, interrupted)(*(["hello"] if interrupted == "count_tokens" else []))
        watcher.join(10)
        (pid,) = stopped
        assert wait_gone(pid, timeout=30), "the half-started server was left running"
        assert llm.count_tokens("hello") > 0  # the next call starts a server and works
        assert llm.generate("Say hi.", max_tokens=4)[0].generations[0].ok
    finally:
        llm.server_process.stop()
        for pid in stopped:
            if _running(pid):
                os.killpg(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True

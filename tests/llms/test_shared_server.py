"""One embedded-model server per user per machine, shared by kernels: separate Python processes
(and real Jupyter kernels) find one server, keep it while any holds it, each get their own
errors when it dies, and one new server starts; `nbllm serve` runs one for a whole machine.

Each test has a runtime folder of its own, so it counts only its own servers."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import nbllm
from nbllm.errors import ServerStartError
from tests.processes import gone, wait_gone

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

# A kernel: loads the embedded model (settings of these tests), says its server, then does what
# stdin tells it, one line at a time, printing one JSON line for each.
KERNEL = r"""
import json, sys, nbllm
from nbllm.errors import ServerDiedError
llm = nbllm.LlamaCppLLM(cache=False, concurrency=4, n_parallel=8, n_ctx=512)
llm.load()
def say(**what):
    print(json.dumps(what), flush=True)
say(pid=llm.server_process.pid, address=llm.server_process.running_address())
def batch():
    prompts = [f"Count from 1 to 100, number {i}." for i in range(4)]
    outs = llm.generate(prompts, max_tokens=64, temperature=0, extra_body={"ignore_eos": True})
    gens = [g for o in outs for g in o.generations]
    say(ok=sum(g.ok for g in gens), died=sum(isinstance(g.error, ServerDiedError) for g in gens))
def run():
    out = llm.generate("Say hi.", max_tokens=4)
    say(ok=out[0].generations[0].ok, pid=llm.server_process.pid)
for line in sys.stdin:
    try:
        {"batch": batch, "run": run}[line.strip()]()
    except KeyboardInterrupt:  # as a kernel's interrupt: the cell stops, the kernel goes on
        say(interrupted=True)
"""


def _env(folder: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "NBLLM_RUNTIME_DIR": str(folder), "NBLLM_SERVER_LINGER": "1", **extra}


class Kernel:
    """A Python process standing for a kernel, answering one JSON line per command."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", KERNEL],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_env(folder, **env),
            text=True,
        )

    def said(self, timeout: float = 300) -> dict:
        """Its next line (the readiness signal of each step)."""
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        assert lines and lines[0], f"the kernel said nothing (exit code {self.proc.poll()})"
        return json.loads(lines[0])

    def ask(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def kernels(tmp_path: Path):
    made: list[Kernel] = []

    def make(**env: str) -> Kernel:
        made.append(Kernel(tmp_path / "run", **env))
        return made[-1]

    yield make
    for kernel in made:
        kernel.close()


def _servers(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("server-*.json")]


def _slots_busy(address: str, key: str) -> int:
    request = urllib.request.Request(f"{address}/slots", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return sum(bool(slot.get("is_processing")) for slot in json.loads(response.read()))


def test_kernels_started_at_once_share_one_server_that_ends_with_the_last(kernels, tmp_path: Path) -> None:
    first, second = kernels(), kernels()
    a, b = first.said(), second.said()
    assert a["pid"] == b["pid"] and not gone(a["pid"])  # the lock made one server, not two
    folder = tmp_path / "run"
    (record,) = _servers(folder)
    (path,) = folder.glob("server-*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert record["key"] and record["lease"].startswith("127.0.0.1:")
    first.ask("run")
    assert first.said()["ok"]
    first.close()  # a kernel killed: the server stays for the other
    second.ask("run")
    assert second.said() == {"ok": True, "pid": a["pid"]}
    second.close()
    assert wait_gone(a["pid"], timeout=30), "the server outlived its last kernel"
    assert wait_gone(record["pid"], timeout=30) and not _servers(folder)


def test_a_death_fails_each_kernels_own_rows_and_one_new_server_starts(kernels, tmp_path: Path) -> None:
    first, second = kernels(), kernels()
    a, b = first.said(), second.said()
    assert a["pid"] == b["pid"]
    (record,) = _servers(tmp_path / "run")
    first.ask("batch")
    second.ask("batch")
    deadline = time.monotonic() + 120
    while _slots_busy(a["address"], record["key"]) < 8:  # both kernels' rows are in the server
        assert time.monotonic() < deadline, "the batches never reached the server"
        time.sleep(0.05)
    os.kill(a["pid"], signal.SIGKILL)
    for kernel in (first, second):
        outcome = kernel.said()
        assert outcome["died"] >= 1 and outcome["ok"] + outcome["died"] == 4, outcome
    first.ask("run")
    second.ask("run")
    after = [first.said(), second.said()]
    assert all(o["ok"] for o in after) and after[0]["pid"] == after[1]["pid"] != a["pid"]  # exactly one new
    assert len(_servers(tmp_path / "run")) == 1


def test_a_killed_supervisor_leaves_no_server_and_the_next_call_starts_one(kernels, tmp_path: Path) -> None:
    kernel = kernels()
    first = kernel.said()
    (record,) = _servers(tmp_path / "run")
    os.kill(record["pid"], signal.SIGKILL)
    assert wait_gone(first["pid"], timeout=30), "the server outlived its supervisor"
    kernel.ask("run")
    after = kernel.said()
    assert after["ok"] and after["pid"] != first["pid"]
    (again,) = _servers(tmp_path / "run")
    assert again["pid"] != record["pid"]


def test_an_interrupt_cancels_only_its_own_kernels_requests(kernels, tmp_path: Path) -> None:
    first, second = kernels(), kernels()
    a, _ = first.said(), second.said()
    (record,) = _servers(tmp_path / "run")
    first.ask("batch")
    second.ask("batch")
    deadline = time.monotonic() + 120
    while _slots_busy(a["address"], record["key"]) < 8:  # the interrupt comes while both hold slots
        assert time.monotonic() < deadline, "the batches never reached the server"
        time.sleep(0.05)
    second.proc.send_signal(signal.SIGINT)
    assert second.said() == {"interrupted": True}
    assert first.said() == {"ok": 4, "died": 0}  # the other kernel's rows all finished
    second.ask("run")
    assert second.said() == {"ok": True, "pid": a["pid"]}  # the same server, still working


def test_an_idle_server_ends_and_the_next_call_starts_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NBLLM_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("NBLLM_SERVER_IDLE_TIMEOUT", "2")
    llm = nbllm.LlamaCppLLM(cache=False, n_ctx=448)
    llm.load()
    pid = llm.server_process.pid
    assert wait_gone(pid, timeout=60), "the idle server was kept"
    out = llm.generate("Say hi.", max_tokens=4)
    assert out[0].generations[0].ok and llm.server_process.pid != pid


def test_nbllm_serve_runs_one_server_for_every_user(kernels, tmp_path: Path) -> None:
    from tests.conftest import free_port

    port, key_file = free_port(), tmp_path / "key"
    serve = subprocess.Popen(
        [sys.executable, "-m", "nbllm.cli", "serve", "--port", str(port), "--key-file", str(key_file),
         "--n-parallel", "4", "--n-ctx", "512"],
        stdout=subprocess.PIPE, text=True, env=_env(tmp_path / "admin"),
    )  # fmt: skip
    try:
        lines = [serve.stdout.readline(), serve.stdout.readline()]
        assert f"NBLLM_SERVER=127.0.0.1:{port}" in lines[1], lines
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o640
        machine = {"NBLLM_SERVER": f"127.0.0.1:{port}", "NBLLM_SERVER_KEY_FILE": str(key_file)}
        first, second = kernels(**machine), kernels(**machine)
        a, b = first.said(), second.said()
        assert a["pid"] == b["pid"] and not list(
            (tmp_path / "run").glob("server-*.json")
        )  # none of their own
        wrong = subprocess.run(
            [sys.executable, "-c", "import nbllm; nbllm.LlamaCppLLM(cache=False).load()"],
            env=_env(tmp_path / "run", NBLLM_SERVER=f"127.0.0.1:{port}", NBLLM_SERVER_KEY="not-it"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert wrong.returncode != 0 and "NBLLM_SERVER names" in wrong.stderr and "not-it" not in wrong.stderr
    finally:
        serve.terminate()
        assert serve.wait(30) == 0
    assert wait_gone(a["pid"], timeout=30)


def test_an_unreachable_machine_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("NBLLM_SERVER", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("NBLLM_SERVER_KEY", "k")
    with pytest.raises(ServerStartError, match="unset NBLLM_SERVER"):
        nbllm.LlamaCppLLM(cache=False, n_ctx=384).load()


def test_real_kernels_share_one_server(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "run"
    pids: dict[int, str] = {}

    def run(n: int) -> None:
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell(
                f"import os, pathlib, time\nos.environ['NBLLM_RUNTIME_DIR'] = {str(folder)!r}\n"
                "import nbllm\nllm = nbllm.default_llm()\n"
                "ok = llm.generate('Say hi.', max_tokens=4)[0].generations[0].ok\n"
                f"pathlib.Path({str(tmp_path)!r}, 'kernel-{n}').write_text(str(llm.server_process.pid))\n"
                f"while not pathlib.Path({str(tmp_path)!r}, 'go').exists():\n    time.sleep(0.05)\n"
                "print('PID', llm.server_process.pid, ok)"
            )
        ]
        NotebookClient(nb, timeout=240, kernel_name="python3").execute()
        pids[n] = "".join(o.get("text", "") for o in nb.cells[0].outputs)

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 240
    while not all((tmp_path / f"kernel-{n}").exists() for n in (1, 2)):  # both kernels hold it at once
        assert time.monotonic() < deadline and all(t.is_alive() for t in threads), "a kernel did not start"
        time.sleep(0.05)
    (tmp_path / "go").touch()
    for thread in threads:
        thread.join(240)
    assert pids[1] == pids[2] and pids[1].startswith("PID ") and pids[1].strip().endswith("True"), pids

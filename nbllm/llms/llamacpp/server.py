"""The embedded model's server: llama.cpp's server in a child process on 127.0.0.1, started and
stopped by nbllm.

Native code that can crash (a CPU kernel llama.cpp picked wrongly, a bad model file, out of
memory) runs in this child process, never in the user's kernel. `ServerProcess` starts it with a
random key, waits for its readiness line, notices when it has died and starts a new one for the
next request, and keeps the last lines of its log for the error the affected rows get.

Methods are called from worker threads (starting blocks for the model load); nothing here runs
on nbllm's I/O loop.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbllm.errors import ModelNotFoundError, ServerDiedError, ServerStartError
from nbllm.llms.llamacpp.child import LOAD_FAILED

START_TIMEOUT = 120.0
MAC_BIN_DIRS = ("/opt/homebrew/bin", "/usr/local/bin")
LOG_TAIL_LINES = 12
# How Windows reports a process that crashed (NTSTATUS codes as exit codes); POSIX uses signals.
WINDOWS_CRASHES = {
    0xC0000005: "an access violation (STATUS_ACCESS_VIOLATION)",
    0xC000001D: "an illegal instruction (STATUS_ILLEGAL_INSTRUCTION)",
    0xC0000017: "running out of memory (STATUS_NO_MEMORY)",
    0xC00000FD: "a stack overflow (STATUS_STACK_OVERFLOW)",
    0xC0000409: "abort() or a failed safety check (STATUS_STACK_BUFFER_OVERRUN)",
    0xC000013A: "Ctrl-C (STATUS_CONTROL_C_EXIT)",
}


@dataclass(frozen=True)
class ServerSettings:
    """What one server process is started with; LLMs with equal settings share the process."""

    model_path: str
    n_ctx: int
    n_parallel: int
    n_threads: int
    n_threads_batch: int
    chat_template: str | None = None
    embedding: bool = False
    n_gpu_layers: int = 0
    kv_cache_type: str = "f16"  # each slot's context: "f16" (llama.cpp's default) or "q8_0"
    server_binary: str | None = None  # a llama-server of the user's own; None: the xllamacpp wheel
    start_timeout: float = field(default=START_TIMEOUT, compare=False)


class ServerProcess:
    """One llama.cpp server process, restarted on demand after it dies."""

    def __init__(self, settings: ServerSettings, key: str | None = None) -> None:
        self.settings = settings
        self.key = key or secrets.token_urlsafe(24)
        self.restarts = 0
        self._box: list[subprocess.Popen[str] | None] = [None]  # shared with the finalizer
        self._box_log: list[Path | None] = [None]  # likewise: the log goes when the server does
        self._address: str | None = None
        self._log_path: Path | None = None
        self._lock = threading.Lock()
        self._start_error: ServerStartError | None = None
        self._tails: dict[int, str] = {}  # a dead process's last log lines, by pid
        _RUNNING.add(self)
        weakref.finalize(self, _terminate, self._box, self._box_log)

    @property
    def _proc(self) -> subprocess.Popen[str] | None:
        return self._box[0]

    @_proc.setter
    def _proc(self, proc: subprocess.Popen[str] | None) -> None:
        self._box[0] = proc

    @property
    def proc(self) -> subprocess.Popen[str] | None:
        """The running process (None before the first start)."""
        return self._box[0]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """The running server's log file."""
        return self._log_path

    @property
    def start_error(self) -> ServerStartError | None:
        """The error of a start that cannot work (the model file does not load), kept for every
        later call."""
        return self._start_error

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def running_address(self) -> str | None:
        """The address of a running server without waiting (None when it must be started)."""
        address = self._address
        return address if address is not None and self.alive() else None

    def address(self) -> str:
        """The running server's base URL, starting (or restarting) it first; blocks while it loads."""
        with self._lock:
            if self._start_error is not None:
                raise self._start_error
            if not self.alive() or self._address is None:
                if self._proc is not None:
                    self.restarts += 1
                self._start()
            assert self._address is not None
            return self._address

    def _start(self) -> None:
        settings = self.settings
        old = self._proc
        if old is not None:  # it died: keep what its log said for the rows it held
            self._tails[old.pid] = self.log_tail()
            self._kill()
        config = {k: v for k, v in asdict(settings).items() if k != "start_timeout"}
        fd, log_name = tempfile.mkstemp(prefix="nbllm-server-", suffix=".log")
        self._log_path = self._box_log[0] = Path(log_name)
        env = {**os.environ, "NBLLM_ENGINE_KEY": self.key}
        with os.fdopen(fd, "w") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "nbllm.llms.llamacpp.child", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
                **own_process_group(),
            )
        try:
            line = _read_line(self._proc, settings.start_timeout)
        except BaseException:  # an interrupt while it loads: no half-started server is kept
            self._kill(at_once=True)
            raise
        if not line.startswith("NBLLM-READY "):
            try:  # its stdout has closed: it is exiting, with a code that says why
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            definite = self._proc.poll() == LOAD_FAILED
            words = "llama.cpp refused it" if definite else _exit_words(self._proc)
            tail = self.log_tail()
            self._kill()
            what = "could not load" if definite else "did not start with"
            error = ServerStartError(
                f"the embedded model's llama.cpp server {what} {Path(settings.model_path).name}: {words}. "
                + (
                    "Check that the file is a GGUF model llama.cpp supports; on a machine whose CPU "
                    "lacks AVX2, see 'When the embedded model cannot run' in docs/install.md."
                    if definite
                    else f"The next call tries again (the start may wait {settings.start_timeout:g} s; "
                    "a slower machine can give more with LlamaCppLLM(start_timeout=...))."
                )
                + f" Last lines of its log:\n{tail}"
            )
            if definite:  # a file that cannot load fails at once from now on; a hang or a kill may pass
                self._start_error = error
            raise error
        self._address = line.split(" ", 1)[1].strip()
        # nothing else should come on stdout; whatever does is read, so a full pipe never blocks it
        threading.Thread(target=_drain, args=(self._proc,), daemon=True, name="nbllm-server-drain").start()

    def died_error(self, proc: subprocess.Popen[str]) -> ServerDiedError:
        """The error for a request the process `proc` held when it died."""
        return ServerDiedError(
            f"the embedded model's llama.cpp server (process {proc.pid}) died while answering this request: "
            f"{_exit_words(proc)}. nbllm starts a new server for the remaining rows; the rows "
            "that finished are kept (and cached). Run the call again for this row; if it kills "
            "the server every time, shorten or change its prompt, or lower n_ctx/n_parallel if "
            f"memory ran out. Last lines of its log:\n{self._tails.get(proc.pid) or self.log_tail()}"
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self._log_path, lines)

    def stop(self) -> None:
        with self._lock:
            self._kill()
            self._start_error = None

    def _kill(self, at_once: bool = False) -> None:
        """Stop the process: asked to exit (it does once loaded), else, or `at_once`, killed."""
        proc, self._proc = self._proc, None
        self._address = None
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # the child's signal to exit cleanly
            except OSError:
                pass
        try:
            proc.wait(timeout=0 if at_once else 5)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(proc)  # it, and a server binary it started, however it ended
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._log_path is not None:
            try:
                self._log_path.unlink(missing_ok=True)
            except OSError:  # Windows: something still writes it
                threading.Thread(target=_remove_after, args=(None, self._log_path), daemon=True).start()
            self._log_path = self._box_log[0] = None


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a server's log file."""
    if path is None or not path.exists():
        return "(no log)"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            tail = deque(f, maxlen=lines)
    except OSError:  # removed meanwhile (a restart)
        return "(no log)"
    return "".join(tail).rstrip() or "(empty log)"


def find_server_binary(named: str | None, platform: str = sys.platform) -> str | None:
    """The user's own llama-server (``named``, else ``NBLLM_LLAMA_SERVER``), found before any
    start; None runs the server that comes with nbllm (the xllamacpp wheel). On a Mac, Homebrew's
    folders are searched too: a Jupyter started from the Dock has them off its PATH."""
    chosen = named or os.environ.get("NBLLM_LLAMA_SERVER") or None
    if chosen is None:
        return None
    found = shutil.which(chosen)
    if found is None and platform == "darwin":
        found = shutil.which(chosen, path=os.pathsep.join(MAC_BIN_DIRS))
    if found is None:
        source = "server_binary" if named else "NBLLM_LLAMA_SERVER"
        raise ModelNotFoundError(
            f"{source} names {chosen!r}, which is not a program here: give the full path of a "
            "llama-server binary, or unset it to use the server that comes with nbllm."
        )
    return found


def own_process_group(platform: str = os.name) -> dict:
    """Popen arguments that keep a Ctrl-C in the kernel (or its console) from the server, and
    on Windows open no console window for it."""
    if platform == "nt":
        return {"creationflags": 0x200 | 0x08000000}  # CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
    return {"start_new_session": True}


def kill_tree_command(pid: int, platform: str = os.name) -> list[str] | None:
    """How the server's whole process tree is ended: its process group on POSIX (the child leads
    one), ``taskkill /T`` on Windows."""
    return ["taskkill", "/T", "/F", "/PID", str(pid)] if platform == "nt" else None


def kill_tree(proc: subprocess.Popen[str]) -> None:
    command = kill_tree_command(proc.pid)
    try:
        if command is not None:
            subprocess.run(command, capture_output=True, timeout=10)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, subprocess.SubprocessError):
        pass  # already gone
    if proc.poll() is None:
        proc.kill()


def _drain(proc: subprocess.Popen[str]) -> None:
    try:
        for _ in proc.stdout:  # type: ignore[union-attr]
            pass
    except (OSError, ValueError):
        pass


def exit_words(code: int | None, platform: str = os.name) -> str:
    """What an exit code says, in words: a POSIX signal, a Windows crash code, or a plain code."""
    if code is None:
        return "it stopped answering"
    if platform == "nt":
        crash = WINDOWS_CRASHES.get(code & 0xFFFFFFFF)
        return f"it was ended by {crash}" if crash else f"it exited with code {code}"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"it was killed by {name}"
    return f"it exited with code {code}"


def _exit_words(proc: subprocess.Popen[str] | None) -> str:
    return exit_words(proc.poll() if proc is not None else None)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or "" if it exits or stays silent for `timeout` seconds."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(0.05)
    return result[0] if result else ""


_RUNNING: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


def _terminate(box: list[subprocess.Popen[str] | None], log: list[Path | None]) -> None:
    """Stop a server nobody holds any more: closing its stdin makes it exit; its log file goes
    once it has (Windows cannot remove a file the process still writes), on a thread of its own."""
    proc, path = box[0], log[0]
    if proc is not None and proc.poll() is None and proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
    if path is not None:
        threading.Thread(target=_remove_after, args=(proc, path), daemon=True).start()


def _remove_after(proc: subprocess.Popen[str] | None, path: Path) -> None:
    try:
        if proc is not None:
            proc.wait(10)
        path.unlink(missing_ok=True)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _stop_all() -> None:
    for server in list(_RUNNING):
        try:
            server.stop()
        except Exception:
            pass


atexit.register(_stop_all)

"""The embedded engine's process: llama.cpp's server on 127.0.0.1, started and stopped by nbllm.

Native code that can crash (a CPU kernel llama.cpp picked wrongly, a bad model file, out of
memory) runs in this child process, never in the user's kernel. `EngineProcess` starts it with a
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
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from nbllm.errors import BackendError, WorkerDiedError

START_TIMEOUT = 120.0
LOG_TAIL_LINES = 12


class EngineStartError(BackendError):
    """The embedded engine's process exited (or hung) before it was ready: the model cannot load."""


class EngineDiedError(WorkerDiedError):
    """The embedded engine's process died while it held this request; it is restarted for the rest."""


@dataclass(frozen=True)
class EngineSettings:
    """What one engine process is started with; LLMs with equal settings share the process."""

    model_path: str
    n_ctx: int
    n_parallel: int
    n_threads: int
    n_threads_batch: int
    chat_template: str | None = None
    embedding: bool = False


class EngineProcess:
    """One llama.cpp server process, restarted on demand after it dies."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.key = secrets.token_urlsafe(24)
        self.restarts = 0
        self._box: list[subprocess.Popen[str] | None] = [None]  # shared with the finalizer
        self._address: str | None = None
        self._log_path: Path | None = None
        self._lock = threading.Lock()
        self._start_error: EngineStartError | None = None
        self._tails: dict[int, str] = {}  # a dead process's last log lines, by pid
        _RUNNING.add(self)
        weakref.finalize(self, _terminate, self._box)

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

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def running_address(self) -> str | None:
        """The address of a running engine without waiting (None when it must be started)."""
        address = self._address
        return address if address is not None and self.alive() else None

    def address(self) -> str:
        """The running server's base URL, starting (or restarting) it first; blocks while it loads."""
        with self._lock:
            if self._start_error is not None:
                raise self._start_error
            if not self.alive():
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
        config = {
            "model_path": settings.model_path,
            "n_ctx": settings.n_ctx,
            "n_parallel": settings.n_parallel,
            "n_threads": settings.n_threads,
            "n_threads_batch": settings.n_threads_batch,
            "chat_template": settings.chat_template,
            "embedding": settings.embedding,
        }
        fd, log_name = tempfile.mkstemp(prefix="nbllm-engine-", suffix=".log")
        self._log_path = Path(log_name)
        env = {**os.environ, "NBLLM_ENGINE_KEY": self.key}
        with os.fdopen(fd, "w") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "nbllm.llms.llamacpp_child", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
                start_new_session=True,  # a Ctrl-C in the kernel is not the engine's
            )
        line = _read_line(self._proc, START_TIMEOUT)
        if not line.startswith("NBLLM-READY "):
            words = _exit_words(self._proc)
            tail = self.log_tail()
            self._kill()
            self._start_error = EngineStartError(
                f"the embedded llama.cpp engine could not load {Path(settings.model_path).name}: "
                f"{words}. Check that the file is a GGUF model llama.cpp supports; on "
                "a machine whose CPU lacks AVX2, see the README's 'When the embedded model cannot "
                f"run'. Last lines of its log:\n{tail}"
            )
            raise self._start_error
        self._address = line.split(" ", 1)[1].strip()

    def died_error(self, proc: subprocess.Popen[str]) -> EngineDiedError:
        """The error for a request the process `proc` held when it died."""
        return EngineDiedError(
            f"the embedded llama.cpp engine (process {proc.pid}) died while answering this request: "
            f"{_exit_words(proc)}. nbllm starts a new engine for the remaining rows; the rows "
            "that finished are kept (and cached). Run the call again for this row; if it kills "
            "the engine every time, shorten or change its prompt, or lower n_ctx/n_parallel if "
            f"memory ran out. Last lines of its log:\n{self._tails.get(proc.pid) or self.log_tail()}"
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no log)"
        with open(self._log_path, errors="replace") as f:
            tail = deque(f, maxlen=lines)
        return "".join(tail).rstrip() or "(empty log)"

    def stop(self) -> None:
        with self._lock:
            self._kill()
            self._start_error = None

    def _kill(self) -> None:
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
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None


def _exit_words(proc: subprocess.Popen[str] | None) -> str:
    code = proc.poll() if proc is not None else None
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"it was killed by {name}"
    return f"it exited with code {code}"


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or "" if it exits or stays silent for `timeout` seconds."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(0.05)
    return result[0] if result else ""


# Engines by settings: LLMs of the same file and settings share one process; it stops when the
# last of them lets go (or at exit).
_SHARED: weakref.WeakValueDictionary[EngineSettings, EngineProcess] = weakref.WeakValueDictionary()
_RUNNING: weakref.WeakSet[EngineProcess] = weakref.WeakSet()
_SHARED_LOCK = threading.Lock()


def shared_engine(settings: EngineSettings) -> EngineProcess:
    with _SHARED_LOCK:
        engine = _SHARED.get(settings)
        if engine is None:
            engine = EngineProcess(settings)
            _SHARED[settings] = engine
        return engine


def _terminate(box: list[subprocess.Popen[str] | None]) -> None:
    """Stop an engine nobody holds any more: closing its stdin makes it exit."""
    proc = box[0]
    if proc is not None and proc.poll() is None and proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass


def _stop_all() -> None:
    for engine in list(_RUNNING):
        try:
            engine.stop()
        except Exception:
            pass


atexit.register(_stop_all)

"""One embedded-model server per user per machine, shared by that user's kernels.

The first kernel that needs a server with given settings starts a supervisor
(``nbllm.llms.llamacpp.supervisor``) that runs it; the others find it through a record in the
user's runtime folder (readable by that user only: it holds the key), under a file lock, so two
kernels starting at once make one. Each kernel holds a lease (a connection to the supervisor)
while an LLM of it uses the server; the supervisor ends the server when the last lease has
gone (after ``NBLLM_SERVER_LINGER`` seconds) or nobody has used it for
``NBLLM_SERVER_IDLE_TIMEOUT`` seconds, and the next request starts one again.

Which LLMs share a server: those whose `ServerSettings` are equal (the model file, context,
slots, threads, chat template, GPU layers, server binary), run by the same nbllm version; other
settings get a server of their own. Where ``NBLLM_SERVER`` names a machine's server (``nbllm
serve``, run by an administrator), every LLM of the model it serves uses that one instead.

`SharedServer.address` blocks (it may wait for the model to load) and runs on worker threads;
`running_address` is called on nbllm's I/O loop and never blocks. Each lease has one thread that
reads what its supervisor says (a death, a start, its leaving).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nbllm.errors import BackendError, ServerDiedError, ServerStartError, TransientBackendError
from nbllm.llms.llamacpp.server import ServerSettings, log_tail, own_process_group
from nbllm.llms.llamacpp.supervisor import READY

# Bumped when the lease messages change (the code's own bytes are part of the name too).
PROTOCOL = 1
DEFAULT_LINGER = 30.0
DEFAULT_IDLE_TIMEOUT = 900.0
TOUCH_EVERY = 5.0
SUPERVISOR_START_TIMEOUT = 60.0


def runtime_folder() -> Path:
    """Where a user's shared servers are written down, readable by that user only:
    ``NBLLM_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/nbllm``, else ``~/.cache/nbllm/run``
    (``%LOCALAPPDATA%\\nbllm\\run`` on Windows)."""
    named = os.environ.get("NBLLM_RUNTIME_DIR")
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if named:
        folder = Path(named)
    elif os.name == "nt":
        folder = Path(os.environ.get("LOCALAPPDATA") or Path.home()) / "nbllm" / "run"
    elif xdg and os.path.isdir(xdg):
        folder = Path(xdg) / "nbllm"
    else:
        folder = Path.home() / ".cache" / "nbllm" / "run"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(folder, 0o700)
    return folder


def settings_digest(settings: ServerSettings) -> str:
    """The name LLMs with equal settings, run by the same nbllm code, find their server by."""
    fields = {k: v for k, v in asdict(settings).items() if k != "start_timeout"}
    blob = json.dumps({"settings": fields, "code": _code_digest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The code on both ends of a lease: kernels of another nbllm (a newer install, a checkout
    being edited) never share a server with this one."""
    digest = hashlib.sha256(str(PROTOCOL).encode())
    for module in ("shared.py", "supervisor.py", "server.py", "child.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()


def _seconds(name: str, default: float) -> float | None:
    """A number of seconds from the environment; 0 turns the limit off."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ServerStartError(f"{name}={raw!r} is not a number of seconds; unset it or give one.") from None
    return value if value > 0 else None


class ServerHandle:
    """One server process as a kernel knows it: its pid and, once it has ended, how. It answers
    `wait` and `poll` as a `subprocess.Popen` does, so a dropped connection can be told from
    the server's death."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.message: str | None = None
        self.died = True  # False: it was stopped (idle), not killed
        self._ended = threading.Event()

    def poll(self) -> int | None:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"llama.cpp server {self.pid}", timeout or 0)
        return self.returncode

    def ended(self) -> bool:
        return self._ended.is_set()

    def end(self, code: int | None, message: str, died: bool = True) -> None:
        if not self._ended.is_set():
            self.returncode, self.message, self.died = code, message, died
            self._ended.set()


class Lease:
    """A connection to a supervisor, and the thread that reads it."""

    def __init__(self, sock: socket.socket, server: SharedServer) -> None:
        self.sock = sock
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.open = True
        self._write = threading.Lock()
        self._server = weakref.ref(server)
        threading.Thread(target=self._read, daemon=True, name="nbllm-server-lease").start()

    def send(self, message: dict[str, Any]) -> None:
        with self._write:
            self.sock.sendall(json.dumps(message).encode() + b"\n")

    def close(self) -> None:
        self.open = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _read(self) -> None:
        said_bye = False
        try:
            for line in self.sock.makefile("rb"):
                message = json.loads(line)
                server = self._server()
                if server is None:
                    break
                if "bye" in message:
                    said_bye = True
                server._hear(self, message)
                del server  # held only while it hears: a server nobody holds is let go
        except (OSError, ValueError):
            pass
        self.open = False
        server = self._server()
        if server is not None:
            server._lost(self, said_bye)
        self.replies.put(None)


class SharedServer:
    """The embedded model's server as one kernel holds it: a lease on the supervisor that runs
    it, started by this kernel or another. Used by `LlamaCppLLM` as it used its own process."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.key: str = ""
        self.restarts = 0
        self.model: dict[str, Any] = {}
        self._box: list[Lease | None] = [None]  # shared with the finalizer: the lease goes with this
        self._handle: ServerHandle | None = None
        self._address: str | None = None
        self._log: Path | None = None
        self._start_error: ServerStartError | None = None
        self._lock = threading.Lock()
        self._touched = 0.0
        _RUNNING.add(self)
        weakref.finalize(self, _close, self._box)

    @property
    def _lease(self) -> Lease | None:
        return self._box[0]

    @_lease.setter
    def _lease(self, lease: Lease | None) -> None:
        self._box[0] = lease

    # -- what LlamaCppLLM asks ------------------------------------------------------------------
    @property
    def proc(self) -> ServerHandle | None:
        """The server process last given (None before the first start)."""
        return self._handle

    @property
    def pid(self) -> int | None:
        return self._handle.pid if self._handle is not None else None

    def alive(self) -> bool:
        return self._handle is not None and not self._handle.ended() and self._address is not None

    def running_address(self) -> str | None:
        """The server's address without waiting (None when it must be started); says the
        supervisor that this kernel is using it, at most every few seconds."""
        lease = self._lease
        if lease is None or not lease.open or not self.alive():
            return None
        now = time.monotonic()
        if now - self._touched >= TOUCH_EVERY:
            self._touched = now
            try:
                lease.send({"touch": True})
            except OSError:
                return None
        return self._address

    def address(self) -> str:
        """The server's base URL, starting it (or a new one) first; blocks while it loads."""
        with self._lock:
            if self._start_error is not None:
                raise self._start_error
            for _ in range(3):  # a supervisor that left (idle) or died meanwhile: another is found
                lease = self._connect()
                if self.alive():
                    return self._address  # type: ignore[return-value]
                try:
                    lease.send({"address": True, "start_timeout": self.settings.start_timeout})
                    reply = self._reply(lease)
                except BaseException:  # an interrupt while it starts: the supervisor stops the start
                    self._drop_lease()
                    raise
                if reply is None:
                    continue
                if "error" in reply:
                    error = ServerStartError(reply["error"])
                    if reply.get("definite"):
                        self._start_error = error
                    raise error
                self._given(reply)
                return self._address  # type: ignore[return-value]
            raise ServerStartError(
                "the embedded model's server kept ending while it started; its log may say why: "
                f"{log_tail(self._log)}"
            )

    def died_error(self, handle: ServerHandle) -> BackendError:
        """The error for a request the server `handle` held when it ended: its death, or (sent
        again) its stopping after it was idle, a moment before the request reached it."""
        if not handle.died:
            return TransientBackendError(handle.message or "the embedded model's server stopped")
        return ServerDiedError(
            handle.message
            or f"the embedded model's llama.cpp server (process {handle.pid}) died while answering this request."
        )

    def log_tail(self, lines: int = 12) -> str:
        return log_tail(self._log, lines)

    def stop(self) -> None:
        """Let go of the server (it ends once no kernel holds it); the next call finds or starts one."""
        with self._lock:
            self._drop_lease()
            self._start_error = None

    # -- the lease ----------------------------------------------------------------------------------
    def _connect(self) -> Lease:
        lease = self._lease
        if lease is not None and lease.open:
            return lease
        machine = os.environ.get("NBLLM_SERVER")
        if machine:
            lease = self._hello(machine, _machine_key(), f"NBLLM_SERVER ({machine})")
            if lease is None:
                raise ServerStartError(
                    f"NBLLM_SERVER names {machine}, where no nbllm server answers with the key given "
                    "(NBLLM_SERVER_KEY or NBLLM_SERVER_KEY_FILE). Ask whoever runs `nbllm serve` there, "
                    "or unset NBLLM_SERVER to start a server of your own."
                )
            self._check_model(machine)
        else:
            lease = self._find_or_start()
        self._lease = lease
        return lease

    def _find_or_start(self) -> Lease:
        from filelock import FileLock, Timeout

        folder = runtime_folder()
        digest = settings_digest(self.settings)
        record = folder / f"server-{digest}.json"
        try:
            with FileLock(folder / f"server-{digest}.lock", timeout=SUPERVISOR_START_TIMEOUT):
                found = _read_record(record)
                if found is not None:
                    lease = self._hello(found["lease"], found["key"], str(record))
                    if lease is not None:
                        return lease
                lease_address, key = self._start_supervisor(record, folder / f"server-{digest}.log")
                lease = self._hello(lease_address, key, "the supervisor just started")
        except Timeout:
            raise ServerStartError(
                f"another kernel held {folder}/server-{digest}.lock for {SUPERVISOR_START_TIMEOUT:g} s "
                "while starting the embedded model's server; try again, or remove the file if no "
                "kernel is starting one."
            ) from None
        if lease is None:
            raise ServerStartError(
                "the embedded model's server supervisor started but did not answer; its log: "
                f"{log_tail(folder / f'server-{digest}.log')}"
            )
        return lease

    def _start_supervisor(self, record: Path, log_path: Path) -> tuple[str, str]:
        import secrets

        key = secrets.token_urlsafe(24)
        config = {
            "settings": asdict(self.settings),
            "record": str(record),
            "linger": _seconds("NBLLM_SERVER_LINGER", DEFAULT_LINGER),
            "idle_timeout": _seconds("NBLLM_SERVER_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT),
        }
        with open(log_path, "a", encoding="utf-8") as log:
            if os.name == "posix":
                os.chmod(log_path, 0o600)
            proc = subprocess.Popen(
                [sys.executable, "-m", "nbllm.llms.llamacpp.supervisor", json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, "NBLLM_ENGINE_KEY": key},
                text=True,
                encoding="utf-8",
                errors="replace",
                **own_process_group(),
            )
        line = _first_line(proc, SUPERVISOR_START_TIMEOUT)
        proc.stdout.close()  # type: ignore[union-attr]
        # this kernel reaps it when it ends; it outlives this kernel otherwise
        threading.Thread(target=proc.wait, daemon=True, name="nbllm-supervisor-reaper").start()
        if not line.startswith(READY + " "):
            proc.kill()
            raise ServerStartError(
                f"the embedded model's server supervisor did not start; its log:\n{log_tail(log_path)}"
            )
        return line.split(" ", 1)[1].strip(), key

    def _hello(self, lease_address: str, key: str, where: str) -> Lease | None:
        """A lease on the supervisor at `lease_address`, or None where none answers to `key`."""
        host, _, port = lease_address.rpartition(":")
        try:
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except (OSError, ValueError):
            return None
        sock.settimeout(None)
        lease = Lease(sock, self)
        try:
            lease.send({"hello": key})
            reply = self._reply(lease, timeout=10)
        except (OSError, ServerStartError):  # something else listens there now, or nothing answers
            reply = None
        if reply is None or "server" not in reply:
            lease.close()
            return None
        self.key = key
        self.model = reply["server"].get("model") or {}
        if reply["server"].get("address"):
            self._given(reply["server"])
        return lease

    def _reply(self, lease: Lease, timeout: float | None = None) -> dict[str, Any] | None:
        """The supervisor's next answer (None: it went away). Waits in short steps, so an
        interrupt reaches the caller at once."""
        limit = timeout if timeout is not None else self.settings.start_timeout + 30
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                return lease.replies.get(timeout=0.1)
            except queue.Empty:
                continue
        raise ServerStartError(
            f"the embedded model's server gave no answer in {limit:g} s. Its log:\n{log_tail(self._log)}"
        )

    def _given(self, state: dict[str, Any]) -> None:
        pid = state["pid"]
        if self._handle is None or self._handle.pid != pid:
            self._handle = ServerHandle(pid)
        self._address = state["address"]
        self._log = Path(state["log"]) if state.get("log") else self._log

    def _hear(self, lease: Lease, message: dict[str, Any]) -> None:
        """What the supervisor says (on the lease's thread)."""
        if "starting" in message:
            if self._handle is None or self._handle.pid != message["starting"]:
                self._handle = ServerHandle(message["starting"])
        elif "died" in message:
            handle = self._handle
            if handle is not None and handle.pid == message["died"]:
                self._address = None
                self.restarts += 1
                handle.end(message.get("code"), message["message"])
        elif "bye" in message:
            lease.open = False  # no new request goes to it; the lease's end says the rest
            self._address = None
        else:
            lease.replies.put(message)

    def _lost(self, lease: Lease, said_bye: bool) -> None:
        """The lease closed: the supervisor left (idle) or ended; a server it held is gone."""
        if lease is not self._lease:
            return
        self._address = None
        handle = self._handle
        if handle is not None and not handle.ended():
            if said_bye:
                handle.end(None, "the embedded model's server stopped after it was idle", died=False)
            else:
                handle.end(
                    None,
                    f"the embedded model's llama.cpp server (process {handle.pid}) ended with its "
                    "supervisor while answering this request. nbllm starts a new one for the "
                    "remaining rows; the rows that finished are kept (and cached). Run the call "
                    "again for this row.",
                )

    def _drop_lease(self) -> None:
        lease, self._lease = self._lease, None
        self._address = None
        if lease is not None:
            lease.close()

    def _check_model(self, machine: str) -> None:
        from nbllm.llms.model_files import file_sha256

        served = self.model.get("sha256")
        wanted = file_sha256(Path(self.settings.model_path))
        if served != wanted:
            self._drop_lease()
            raise ServerStartError(
                f"NBLLM_SERVER ({machine}) serves {self.model.get('file', 'another model')}, not "
                f"{Path(self.settings.model_path).name} that this LLM asks for; unset NBLLM_SERVER "
                "for a server of your own."
            )


def _close(box: list[Lease | None]) -> None:
    if box[0] is not None:
        box[0].close()


def _machine_key() -> str:
    key = os.environ.get("NBLLM_SERVER_KEY")
    if key:
        return key
    named = os.environ.get("NBLLM_SERVER_KEY_FILE")
    if named:
        try:
            return Path(named).read_text().strip()
        except OSError as exc:
            raise ServerStartError(f"NBLLM_SERVER_KEY_FILE cannot be read: {exc}") from None
    raise ServerStartError(
        "NBLLM_SERVER is set, but no key is: set NBLLM_SERVER_KEY or NBLLM_SERVER_KEY_FILE as "
        "`nbllm serve` says."
    )


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(found, dict)
        or not isinstance(found.get("lease"), str)
        or not isinstance(found.get("key"), str)
    ):
        return None
    return found


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The process's first stdout line, or "" if it exits or stays silent for `timeout` s."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


# Servers by settings: the LLMs of one kernel with equal settings hold one lease; it is let go
# when the last of them lets go (or at exit).
_SHARED: weakref.WeakValueDictionary[ServerSettings, SharedServer] = weakref.WeakValueDictionary()
_RUNNING: weakref.WeakSet[SharedServer] = weakref.WeakSet()
_SHARED_LOCK = threading.Lock()


def shared_server(settings: ServerSettings) -> SharedServer:
    with _SHARED_LOCK:
        server = _SHARED.get(settings)
        if server is None:
            server = SharedServer(settings)
            _SHARED[settings] = server
        else:
            server.settings = settings  # equal but for start_timeout: the newest one applies
        return server


def _let_go_all() -> None:
    for server in list(_RUNNING):
        try:
            server._drop_lease()
        except Exception:
            pass


atexit.register(_let_go_all)

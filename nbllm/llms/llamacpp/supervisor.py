"""The embedded model's server shared by kernels: a small supervisor process that owns
llama.cpp's server process, gives its address to the kernels that hold a lease on it, and ends
it when the last kernel has gone or nobody has used it for a while.

A kernel starts it (``nbllm.llms.llamacpp.shared``) as ``python -m nbllm.llms.llamacpp.supervisor
CONFIG`` in a session of its own, so it outlives the kernel that started it; ``nbllm serve``
runs it in the foreground for a whole machine. It is pure Python: the native code runs in its
child (a `ServerProcess`), so a crash there is a death the supervisor sees, reports to every
kernel holding a lease (each fails the rows it had in flight) and recovers from by starting
exactly one new server, for the next request that asks.

A lease is a TCP connection on 127.0.0.1 that starts with the key: one per kernel. The
operating system closes a killed kernel's connection, so no lease outlives its kernel. The
messages are JSON lines:

- kernel to supervisor: ``{"hello": key}``, ``{"address": true, "start_timeout": s}`` (start
  the server if it is down), ``{"touch": true}`` (the kernel is sending requests);
- supervisor to kernel: ``{"server": {...}}`` (the answer to hello), ``{"starting": pid}``,
  ``{"address": url, "pid": pid, "log": path}``, ``{"error": message, "definite": bool}``,
  ``{"died": pid, "code": code, "message": text}``, ``{"bye": reason}``.

Runs on its main thread (a selector loop) and, while the server loads, one thread that starts it.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nbllm.core.files import write_atomically
from nbllm.errors import ServerStartError
from nbllm.llms.llamacpp.server import ServerProcess, ServerSettings, kill_tree

READY = "NBLLM-SUPERVISOR"
TICK = 0.2  # how often deaths, idleness and the last kernel's leaving are looked at
MAX_LINE = 1 << 16


@dataclass
class Lease:
    """One kernel's connection."""

    sock: socket.socket
    buffer: bytes = b""
    known: bool = False  # it has said the key
    waiting: bool = False  # it asked for the address while the server starts


class Supervisor:
    """Runs one llama.cpp server process for the kernels that hold leases on it."""

    def __init__(
        self,
        settings: ServerSettings,
        key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: Path | None = None,
        idle_timeout: float | None = None,
        linger: float | None = None,
        model: dict[str, Any] | None = None,
    ) -> None:
        self.process = ServerProcess(settings, key=key)
        self.key = key
        self.record = record
        self.idle_timeout = idle_timeout
        self.linger = linger
        self.model = model or {}
        self.listener = socket.create_server((host, port))
        self.listener.setblocking(False)
        self.leases: dict[socket.socket, Lease] = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        self._starter: threading.Thread | None = None
        self._start_result: BaseException | None = None
        self._cancelled = False  # the start was ended because nobody waited for it any more
        self._announced: int | None = None  # the pid of the start kernels were told of
        self._up: int | None = None  # the pid of the server kernels were given
        self._last_use = time.monotonic()
        self._alone_since: float | None = time.monotonic()
        self._stopping = False
        self._pinned = False  # a start nobody waits for is kept (a machine's service loads at once)

    @property
    def lease_address(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"{host}:{port}"

    # -- the loop -----------------------------------------------------------------------------
    def run(self, ready: Any = None, start: bool = False) -> None:
        """Serve until the last kernel has gone (after `linger` s), nobody used the server for
        `idle_timeout` s, or SIGTERM; then stop the server and remove the record. `start`
        loads the model now, not at the first kernel's request (a machine's service)."""
        self._pinned = start
        if start:
            self._begin_start()
        if self.record is not None:
            write_atomically(
                self.record,
                json.dumps({"pid": os.getpid(), "lease": self.lease_address, "key": self.key}),
                mode=0o600,
            )
        if ready is not None:
            print(f"{READY} {self.lease_address}", file=ready, flush=True)
            ready.close()  # the kernel that started this process reads nothing more
        try:
            while not self._stopping:
                for item, _ in self.selector.select(TICK):
                    if item.fileobj is self.listener:
                        self._accept()
                    elif item.fileobj is self._wake_r:
                        self._wake_r.recv(4096)
                    else:
                        self._read(item.fileobj)  # type: ignore[arg-type]
                self._tick()
        finally:
            self._close()

    def stop(self, *_: Any) -> None:
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _tick(self) -> None:
        now = time.monotonic()
        starting = self._starter is not None
        if starting:
            proc = self.process.proc
            if proc is not None and proc.pid != self._announced:
                self._announced = proc.pid
                self._send_all({"starting": proc.pid}, waiting_only=True)
            if not self._starter.is_alive():  # type: ignore[union-attr]
                self._started()
            elif not self._pinned and proc is not None and not self._anyone_waiting():
                self._cancelled = True
                kill_tree(proc)  # every kernel that asked has gone (an interrupt): no half-start is kept
        else:
            self._check_death()
        if self.leases or starting:
            self._alone_since = None
        elif self._alone_since is None:
            self._alone_since = now
        if (
            self.linger is not None
            and self._alone_since is not None
            and now - self._alone_since >= self.linger
        ):
            self._stopping = True
        if self.idle_timeout and not starting and now - self._last_use >= self.idle_timeout:
            self._send_all({"bye": "idle"})
            self._stopping = True

    def _anyone_waiting(self) -> bool:
        return any(lease.waiting for lease in self.leases.values())

    def _check_death(self) -> None:
        """Tell every kernel once when the server it was given has died."""
        proc = self.process.proc
        if self._up is None or (proc is not None and proc.pid == self._up and self.process.alive()):
            return
        if proc is not None and proc.pid == self._up:
            message = str(self.process.died_error(proc))
            code = proc.poll()
        else:
            message, code = "the embedded model's server has ended", None
        self._send_all({"died": self._up, "code": code, "message": message})
        self._up = None

    # -- leases -------------------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        self.leases[sock] = Lease(sock)
        self.selector.register(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        lease = self.leases.get(sock)
        if lease is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(lease)
            return
        lease.buffer += data
        while b"\n" in lease.buffer:
            line, lease.buffer = lease.buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict) or not self._handle(lease, message):
                self._drop(lease)
                return
        if len(lease.buffer) > MAX_LINE:
            self._drop(lease)

    def _handle(self, lease: Lease, message: dict[str, Any]) -> bool:
        """Act on one message; False drops the lease (no key, or a message nobody sends)."""
        if not lease.known:
            given = message.get("hello")
            if not isinstance(given, str) or not secrets.compare_digest(given, self.key):
                return False
            lease.known = True
            self._last_use = time.monotonic()
            self._send(lease, {"server": {**self._state(), "model": self.model}})
            return True
        if message.get("touch"):
            self._last_use = time.monotonic()
            return True
        if message.get("address"):
            self._last_use = time.monotonic()
            wait = message.get("start_timeout")
            if isinstance(wait, (int, float)) and wait > 0:  # the asking LLM's own patience
                self.process.settings = replace(self.process.settings, start_timeout=float(wait))
            self._check_death()
            if self._up is not None:
                self._send(lease, self._state())
            else:
                lease.waiting = True
                self._begin_start()
            return True
        return False

    def _state(self) -> dict[str, Any]:
        log = self.process.log_path
        return {
            "address": self.process.running_address() if self._up is not None else None,
            "pid": self._up,
            "log": str(log) if log is not None else None,
        }

    def _drop(self, lease: Lease) -> None:
        self.leases.pop(lease.sock, None)
        try:
            self.selector.unregister(lease.sock)
        except (KeyError, ValueError):
            pass
        lease.sock.close()

    def _send(self, lease: Lease, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\n"
        try:
            lease.sock.setblocking(True)  # a few hundred bytes: a kernel's socket buffer takes them
            lease.sock.settimeout(5)
            lease.sock.sendall(data)
            lease.sock.setblocking(False)
        except OSError:
            self._drop(lease)

    def _send_all(self, message: dict[str, Any], waiting_only: bool = False) -> None:
        for lease in list(self.leases.values()):
            if lease.known and (lease.waiting or not waiting_only):
                self._send(lease, message)

    # -- starting the server ------------------------------------------------------------------
    def _begin_start(self) -> None:
        if self._starter is not None:
            return
        self._start_result, self._cancelled = None, False

        def start() -> None:
            try:
                self.process.address()
            except BaseException as exc:
                self._start_result = exc
            finally:
                try:
                    self._wake_w.send(b"x")
                except OSError:
                    pass

        self._starter = threading.Thread(target=start, daemon=True, name="nbllm-server-start")
        self._starter.start()

    def _started(self) -> None:
        error, self._starter, self._announced = self._start_result, None, None
        self._last_use = time.monotonic()  # idle time counts from the answer, not the question
        waiting = [lease for lease in self.leases.values() if lease.waiting]
        if error is not None and self._cancelled and waiting:  # asked for again while it was ended
            self._begin_start()
            return
        for lease in waiting:
            lease.waiting = False
        self._pinned = False
        if error is None:
            self._up = self.process.pid
            answer = self._state()
        else:
            definite = self.process.start_error is not None
            text = str(error) if isinstance(error, ServerStartError) else f"{type(error).__name__}: {error}"
            answer = {"error": text, "definite": definite}
        for lease in waiting:
            self._send(lease, answer)

    def _close(self) -> None:
        if self.record is not None:
            try:
                if json.loads(self.record.read_text()).get("pid") == os.getpid():
                    self.record.unlink()
            except (OSError, ValueError):
                pass
        for lease in list(self.leases.values()):
            self._drop(lease)
        self.listener.close()
        self.process.stop()


def main() -> None:
    config = json.loads(sys.argv[1])
    settings = ServerSettings(**config["settings"])
    # the readiness line is the only thing this process writes to the kernel's pipe
    ready = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        supervisor = Supervisor(
            settings,
            os.environ["NBLLM_ENGINE_KEY"],
            record=Path(config["record"]),
            idle_timeout=config.get("idle_timeout"),
            linger=config.get("linger"),
            model=config.get("model"),
        )
    except OSError as exc:
        print(f"nbllm: the supervisor could not listen: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a kernel's interrupt is its own, never the server's
    supervisor.run(ready)


if __name__ == "__main__":
    main()

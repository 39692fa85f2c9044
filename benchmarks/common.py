"""Shared benchmark helpers: a measured result, best-of-N timing, the latency servers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Figure:
    """One row of the table: nbllm's number against a baseline measured in the same run."""

    name: str
    nbllm: float
    baseline: float
    unit: str
    target: str
    met: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.nbllm / self.baseline if self.baseline else float("inf")


@dataclass
class Timing:
    wall: float
    cpu: float


def measure(fn: Callable[[], object]) -> Timing:
    """Wall and process CPU seconds of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return Timing(time.perf_counter() - t0, time.process_time() - c0)


def best(timings: list[Timing]) -> Timing:
    """The best run of each measure: single runs spread on a shared machine."""
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The fixed-latency servers, by name: the same endpoints and answers on two stacks.
SERVERS = {"aiohttp": "latency_server.py", "asgi": "asgi_server.py"}


@contextlib.contextmanager
def latency_server(latency: float, server: str = "aiohttp") -> Iterator[str]:
    """A fixed-latency server (a name of SERVERS) in its own process; yields its base URL."""
    port = free_port()
    script = HERE / SERVERS[server]
    proc = subprocess.Popen([sys.executable, str(script), "--port", str(port), "--latency", str(latency)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the {server} latency server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

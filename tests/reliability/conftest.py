from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_process, wait_http

HERE = Path(__file__).resolve().parent.parent


class FaultServer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = f"{url}/v1"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/reset", method="POST"), timeout=10).read()


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultServer]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "fault_server.py"), "--port", str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", timeout=30, proc=proc)
        yield FaultServer(f"http://127.0.0.1:{port}")
    finally:
        stop_process(proc)


@pytest.fixture
def faults(fault_server: FaultServer) -> FaultServer:
    fault_server.reset()
    return fault_server

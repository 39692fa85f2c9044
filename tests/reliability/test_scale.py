"""The same code drives a serving engine with several parallel slots: llama.cpp's own server
(built from the llama-cpp-server-py-core package) serving the embedded model with four slots."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbllm
from tests.conftest import free_port, stop_process, wait_http

pytestmark = pytest.mark.slow

SLOTS = 4


def llama_server_binary() -> Path:
    import llama_cpp_server_py_core

    return Path(llama_cpp_server_py_core.__file__).parent / "lib" / "llama-server"


@pytest.fixture(scope="module")
def slotted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path_factory.mktemp("llama-server") / "server.log", "wb")
    proc = subprocess.Popen(
        [
            str(llama_server_binary()),
            "-m",
            str(nbllm.embedded_model_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-np",
            str(SLOTS),
            "-c",
            str(1024 * SLOTS),
            "--alias",
            "smollm2",
            "--slots",
            "-t",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LD_LIBRARY_PATH": str(llama_server_binary().parent)},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


def busy_slots(url: str) -> int:
    with urllib.request.urlopen(f"{url}/slots", timeout=5) as response:
        return sum(1 for slot in json.loads(response.read()) if slot.get("is_processing"))


@pytest.mark.parametrize("limit", [2, 3])
def test_concurrency_limit_is_respected_and_results_keep_input_order(slotted_server: str, limit: int) -> None:
    llm = nbllm.OpenAILLM(model="smollm2", base_url=f"{slotted_server}/v1", concurrency=limit, cache=False)
    prompts = [f"Write a sentence about the number {i}." for i in range(12)]
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append(busy_slots(slotted_server))
            except OSError:  # a busy server on a loaded machine answered late: poll again
                continue
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outputs = llm.generate(prompts, max_tokens=48, temperature=0.0)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert max(seen) <= limit, "more requests in flight than the concurrency limit"
    assert max(seen) >= 2, "the server's parallel slots were never used at once"
    assert [o.input[-1]["content"] for o in outputs] == prompts
    assert all(o.generations[0].ok and o.generations[0].text for o in outputs)


def test_n_generations_on_a_server_that_refuses_n(slotted_server: str) -> None:
    llm = nbllm.OpenAILLM(model="smollm2", base_url=f"{slotted_server}/v1", cache=False, max_retries=0)
    (output,) = llm.generate("Name a colour.", num_generations=3, max_tokens=8, temperature=1.0)
    assert len(output.generations) == 3 and all(g.ok for g in output.generations)

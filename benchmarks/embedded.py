"""Figures 3a-3j: the embedded model against llama.cpp's own server, same file and threads.

The baseline is llama.cpp's C++ server run by itself in its own process (the same xllamacpp
build nbllm's engine uses, started with a few lines of its own API and its own defaults, no
nbllm code) and driven by a plain aiohttp client: what a user would run instead. Every measured
batch is new to the process that answers it (fresh_prompts), as a batch of new questions is:
repeating one batch would let the server answer from its prompt cache, where nbllm answers a
repeat from its own cache. On a native build (the llama-server binary of
llama-cpp-server-py-core, an older llama.cpp built from source) nbllm runs that binary
(server_binary=) and is measured against it alone.

The batch is greedy, so nbllm's defaults send it with ``cache_prompt: false`` (reproducible
answers) while the server alone reuses prompts: 3i measures the defaults against the server sent
those same bodies, 3j ``LlamaCppLLM(reproducible=False)`` against the server with its prompt
cache. 3g is the server's memory, 3h what its q8_0 context costs in speed.

python benchmarks/run.py embedded          # the figures (3a-3j)
python benchmarks/run.py memory            # 3g-3h only (suite embedded-memory)
python benchmarks/run.py reproducible      # 3i-3j only (suite embedded-reproducible)
python -m benchmarks.embedded              # nbllm's tokens/s and memory for each setting
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbllm
from benchmarks.common import Figure, free_port
from nbllm.llms.llamacpp.llm import DEFAULT_PARALLEL, _default_threads

SUBJECTS = (
    "the sea", "a cat", "Paris", "winter", "a robot", "the moon", "coffee", "trains",
    "music", "a forest", "rain", "a library", "bicycles", "chess", "the desert", "volcanoes",
)  # fmt: skip
PROMPTS = [f"Write a short story about {s}." for s in SUBJECTS]
_numbers = iter(range(1000, 10**6))


def fresh_prompts() -> list[str]:
    """16 prompts no process has seen, numbered from their first word on: a server's prompt
    cache can reuse only the chat template's opening and a digit or two (as with a batch of new
    questions), never a prompt it answered in an earlier round."""
    return [f"Request {next(_numbers)}. Write a short story about {s}." for s in SUBJECTS]


MAX_TOKENS = 64
ROUNDS = 3
KEY = "bench-key"
THREADS = _default_threads()

_SERVER = """
import sys, xllamacpp
p = xllamacpp.CommonParams()
p.model.path, p.n_parallel, p.n_ctx = sys.argv[1], int(sys.argv[2]), 2048 * int(sys.argv[2])
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = int(sys.argv[3])
p.hostnames, p.port, p.api_keys = ["127.0.0.1"], 0, [sys.argv[4]]
server = xllamacpp.Server(p)
print(server.listening_address, flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def llama_server(parallel: int, threads: int) -> Iterator[tuple[str, int]]:
    """llama.cpp's server alone, in its own process; yields its base URL and process id."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(nbllm.embedded_model_path()), str(parallel), str(threads), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip(), proc.pid  # printed once the model is loaded
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


@contextlib.contextmanager
def llama_server_binary(parallel: int, threads: int) -> Iterator[str | None]:
    """The llama-server binary of llama-cpp-server-py-core, where it is installed."""
    try:
        import llama_cpp_server_py_core
    except ImportError:
        yield None
        return
    binary = Path(llama_cpp_server_py_core.__file__).parent / "lib" / "llama-server"
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "-m", str(nbllm.embedded_model_path()), "--host", "127.0.0.1", "--port", str(port),
         "-np", str(parallel), "-t", str(threads), "-tb", str(threads), "-c", str(2048 * parallel),
         "--api-key", KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while asyncio.run(_health(url)) is False and time.monotonic() < deadline:
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _health(url: str) -> bool:
    import aiohttp

    try:
        async with aiohttp.ClientSession() as s, s.get(url + "/health") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


def _body(prompt: str, **params: object) -> dict:
    return {"messages": [{"role": "user", "content": prompt}], "max_tokens": MAX_TOKENS, **params}


def _greedy(**params: object) -> list[dict]:
    return [_body(p, temperature=0, **params) for p in fresh_prompts()]


def _samples() -> list[dict]:
    prompt = fresh_prompts()[0]
    return [_body(prompt, temperature=0.8, top_p=0.9, seed=s) for s in range(8)]


def _session() -> Any:
    """The direct client's session: the key, and no time limit (a busy machine takes minutes)."""
    import aiohttp

    return aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {KEY}"}, timeout=aiohttp.ClientTimeout(total=None)
    )


async def _direct(url: str, bodies: list[dict]) -> int:
    """Every body at once to the server; the output tokens it reports."""

    async with _session() as session:

        async def one(body: dict) -> int:
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                return (await response.json())["usage"]["completion_tokens"]

        return sum(await asyncio.gather(*(one(b) for b in bodies)))


async def _direct_stream(url: str, body: dict) -> int:
    """One streamed answer, each event read as any client reads it (JSON, the delta's text)."""

    pieces = 0
    async with (
        _session() as session,
        session.post(url + "/v1/chat/completions", json={**body, "stream": True}) as response,
    ):
        async for line in response.content:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    pieces += 1
    return pieces


def _rate(fn) -> float:
    t0 = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - t0)


def _tokens(outputs) -> int:
    return sum(g.stats.output_tokens for o in outputs for g in o.generations)


def _batch(llm: nbllm.LlamaCppLLM) -> Callable[[], int]:
    """The benchmark's batch through nbllm: 16 new greedy prompts; the output tokens."""
    return lambda: _tokens(llm.generate(fresh_prompts(), max_tokens=MAX_TOKENS, temperature=0))


def _memory_mb(pid: int | None) -> tuple[float, float]:
    """A process's resident memory now and its peak so far, in MB (Linux's /proc; 0 elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    kb = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
    return int(kb["VmRSS"]) * 1024 / 1e6, int(kb["VmHWM"]) * 1024 / 1e6


def _best_of(pairs: dict[str, object]) -> dict[str, float]:
    """Tokens/s of each measurement, best of ROUNDS, taken in turn (A B A B ...)."""
    rates: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(ROUNDS):
        for name, fn in pairs.items():
            rates[name].append(_rate(fn))
    return {name: max(values) for name, values in rates.items()}


def embedded_figures() -> list[Figure]:
    llm = nbllm.LlamaCppLLM(cache=False, system_prompt="")  # the defaults; no system prompt, as direct
    llm.load()
    greedy = [_body(p, temperature=0) for p in PROMPTS]
    slots: dict[int, float] = {}
    ours: list[float] = []  # nbllm's batch, measured beside each server setting
    for parallel in (1, 4, 8, 16):
        with llama_server(parallel, THREADS) as (url, _):
            asyncio.run(_direct(url, greedy[:1]))
            rates = _best_of(
                {"nbllm": _batch(llm), "server": lambda u=url: asyncio.run(_direct(u, _greedy()))}
            )
            slots[parallel] = rates["server"]
            ours.append(rates["nbllm"])
            if parallel == 8:
                n8 = _best_of(
                    {
                        "nbllm": lambda: _tokens(
                            llm.generate(fresh_prompts()[0], num_generations=8, max_tokens=MAX_TOKENS,
                                         temperature=0.8, top_p=0.9, seed=0)
                        ),
                        "server": lambda u=url: asyncio.run(_direct(u, _samples())),
                    }
                )  # fmt: skip
            if parallel == 1:
                stream = _best_of(
                    {
                        "nbllm": lambda: len(
                            list(llm.stream(fresh_prompts()[0], max_tokens=128, temperature=0))
                        ),
                        "server": lambda u=url: asyncio.run(
                            _direct_stream(u, _body(fresh_prompts()[0], temperature=0, max_tokens=128))
                        ),
                    }
                )
    llm.unload()
    nbllm_batch = max(ours)
    best_slots = max(slots, key=slots.get)
    native, native_slots = _native(greedy)
    first = _first_call_seconds()
    sweep = ", ".join(f"{k} slots {v:.0f}" for k, v in slots.items())
    return [
        Figure("3a tokens/s, 16 prompts x 64 tokens: LlamaCppLLM defaults vs llama.cpp server --parallel 4",
               nbllm_batch, slots[4], "tok/s", ">= 1.0x", nbllm_batch >= slots[4],
               f"same file, {THREADS} threads; server alone by slots: {sweep}"),
        Figure("3b tokens/s, the same vs llama.cpp server at its best slot count",
               nbllm_batch, slots[best_slots], "tok/s", ">= 1.0x", nbllm_batch >= slots[best_slots],
               f"best: {best_slots} slots"),
        Figure("3c tokens/s, one prompt num_generations=8 vs the server given 8 concurrent requests",
               n8["nbllm"], n8["server"], "tok/s", ">= 1.0x", n8["nbllm"] >= n8["server"],
               "temperature 0.8, top_p 0.9, seeds 0-7 on both sides; server with 8 slots"),
        Figure("3d tokens/s, one stream (128 tokens) vs the server with 1 slot, streaming",
               stream["nbllm"], stream["server"], "tok/s", ">= 0.95x", stream["nbllm"] >= 0.95 * stream["server"]),
        Figure("3e seconds, first call of a fresh process (engine start included) vs import nbllm",
               first[0], first[1], "s", "report", True,
               "python -c: LlamaCppLLM().run('Say hi.', max_tokens=8) against python -c 'import nbllm'"),
        Figure("3f tokens/s, the 3a batch on a native build: LlamaCppLLM(server_binary=llama-server) "
               "defaults vs that llama-server alone at its best slot count",
               native.get("nbllm", 0.0), native.get("server", 0.0), "tok/s", ">= 1.0x",
               native.get("nbllm", 0.0) >= native.get("server", 1.0),
               f"llama-cpp-server-py-core's llama-server (an older llama.cpp built from source here); "
               f"alone by slots: {native_slots}" if native else "llama-cpp-server-py-core not installed"),
    ]  # fmt: skip


def memory_figures() -> list[Figure]:
    """3g: the server's resident memory with the defaults, against llama.cpp's server alone with
    the same slots and its own defaults (f16 context, its RAM prompt cache: nbllm's before);
    3h: what the q8_0 context costs in speed, against f16 in the same run."""
    llm = nbllm.LlamaCppLLM(cache=False, system_prompt="")
    f16 = nbllm.LlamaCppLLM(cache=False, system_prompt="", kv_cache_type="f16")  # a server of its own
    llm.load()
    f16.load()
    loaded = _memory_mb(llm.server_process.pid)[0]
    with llama_server(DEFAULT_PARALLEL, THREADS) as (url, pid):
        alone_loaded = _memory_mb(pid)[0]
        rates = _best_of(
            {"nbllm": _batch(llm), "f16": _batch(f16), "server": lambda: asyncio.run(_direct(url, _greedy()))}
        )
        alone = _memory_mb(pid)[1]
    ours, f16_memory = _memory_mb(llm.server_process.pid)[1], _memory_mb(f16.server_process.pid)[1]
    llm.unload()
    f16.unload()
    return [
        Figure(f"3g MB, the server's resident memory with the defaults, at its peak over {ROUNDS} batches: "
               f"LlamaCppLLM vs llama.cpp server alone with {DEFAULT_PARALLEL} slots x 2048 (nbllm's defaults before)",
               ours, alone, "MB", "report", True,
               f"after loading: {loaded:.0f} MB vs {alone_loaded:.0f} MB; the server alone grows with every "
               f"prompt (its RAM prompt cache); LlamaCppLLM(kv_cache_type='f16'): {f16_memory:.0f} MB"),
        Figure("3h tokens/s, the 3a batch: LlamaCppLLM defaults (q8_0 context) vs LlamaCppLLM(kv_cache_type='f16')",
               rates["nbllm"], rates["f16"], "tok/s", ">= 0.95x", rates["nbllm"] >= 0.95 * rates["f16"],
               f"half the context memory; server alone (f16) in the same rounds: {rates['server']:.0f} tok/s"),
    ]  # fmt: skip


def reproducible_figures() -> list[Figure]:
    """3i: the defaults (reproducible: greedy requests go with cache_prompt false) against the
    server sent the same bodies; 3j: LlamaCppLLM(reproducible=False) against the server with
    its prompt cache. Each at the server's best slot count, nbllm measured beside each setting
    and taken beside the best."""
    llm = nbllm.LlamaCppLLM(cache=False, system_prompt="")
    fast = nbllm.LlamaCppLLM(cache=False, system_prompt="", reproducible=False)  # the same server
    llm.load()
    by_slots: dict[int, dict[str, float]] = {}
    for parallel in (4, 8, 16):
        with llama_server(parallel, THREADS) as (url, _):
            asyncio.run(_direct(url, _greedy()[:1]))
            by_slots[parallel] = _best_of(
                {
                    "nbllm": _batch(llm),
                    "reproducible=False": _batch(fast),
                    "server": lambda u=url: asyncio.run(_direct(u, _greedy())),
                    "server, cache_prompt false": lambda u=url: asyncio.run(
                        _direct(u, _greedy(cache_prompt=False))
                    ),
                }
            )
    llm.unload()
    same = max(by_slots, key=lambda k: by_slots[k]["server, cache_prompt false"])
    cached = max(by_slots, key=lambda k: by_slots[k]["server"])
    a, b = by_slots[same], by_slots[cached]

    def sweep(name: str) -> str:
        return ", ".join(f"{k} slots {v[name]:.0f}" for k, v in by_slots.items())

    return [
        Figure("3i tokens/s, the 3a batch (greedy): LlamaCppLLM defaults (reproducible) vs llama.cpp server at "
               "its best slot count sent the same bodies (cache_prompt: false)",
               a["nbllm"], a["server, cache_prompt false"], "tok/s", ">= 1.0x",
               a["nbllm"] >= a["server, cache_prompt false"],
               f"best: {same} slots; server alone by slots: {sweep('server, cache_prompt false')}"),
        Figure("3j tokens/s, the 3a batch: LlamaCppLLM(reproducible=False) vs llama.cpp server at its best "
               "slot count with its prompt cache",
               b["reproducible=False"], b["server"], "tok/s", ">= 1.0x", b["reproducible=False"] >= b["server"],
               f"best: {cached} slots; server alone by slots: {sweep('server')}"),
    ]  # fmt: skip


def _native(greedy: list[dict]) -> tuple[dict[str, float], str]:
    """nbllm's defaults run on a native llama-server binary, against that binary alone at its
    best slot count (4, 8 or 16); empty where no native build is installed."""
    try:
        import llama_cpp_server_py_core
    except ImportError:
        return {}, ""
    binary = Path(llama_cpp_server_py_core.__file__).parent / "lib" / "llama-server"
    os.environ["LD_LIBRARY_PATH"] = str(binary.parent)  # that build's own libraries
    llm = nbllm.LlamaCppLLM(cache=False, system_prompt="", server_binary=str(binary))
    llm.load()
    alone: dict[int, float] = {}
    ours: list[float] = []
    for parallel in (4, 8, 16):
        with llama_server_binary(parallel, THREADS) as url:
            asyncio.run(_direct(url, greedy[:1]))
            rates = _best_of(
                {"nbllm": _batch(llm), "server": lambda u=url: asyncio.run(_direct(u, _greedy()))}
            )
            alone[parallel] = rates["server"]
            ours.append(rates["nbllm"])
    llm.unload()
    return {"nbllm": max(ours), "server": max(alone.values())}, ", ".join(
        f"{k} slots {v:.0f}" for k, v in alone.items()
    )


def _first_call_seconds() -> tuple[float, float]:
    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
        return time.perf_counter() - t0

    first = "import nbllm; nbllm.LlamaCppLLM(cache=False).run('Say hi.', max_tokens=8)"
    return min(run(first) for _ in range(2)), min(run("import nbllm") for _ in range(2))


def sweep() -> None:
    """nbllm's 16-prompt tokens/s and its server's peak memory for each slots x threads x
    context setting (to choose the defaults)."""
    for parallel in (4, 8, 16):
        for threads in (1, 2):
            for kv_cache_type in ("q8_0", "f16"):
                llm = nbllm.LlamaCppLLM(
                    cache=False,
                    system_prompt="",
                    concurrency=parallel,
                    n_threads=threads,
                    kv_cache_type=kv_cache_type,
                )
                llm.load()
                rate = max(_rate(_batch(llm)) for _ in range(ROUNDS))
                memory = _memory_mb(llm.server_process.pid)[1]
                print(
                    f"slots {parallel:2d} threads {threads} {kv_cache_type:4s}: {rate:6.1f} tok/s {memory:5.0f} MB",
                    flush=True,
                )
                llm.unload()


if __name__ == "__main__":
    sweep()

"""Figures 1, 2 and 5, and the generator comparison: nbllm against the raw openai client.

Both fixed-latency servers send a reasoning model's answer (benchmarks/answers.py); an answer
counts only where its reasoning fields were read: the thinking and its reported tokens.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import urllib.request

import aiohttp
import openai

import nbllm
from benchmarks.answers import THINKING, THINKING_TOKENS
from benchmarks.common import Figure, Timing, best, latency_server, measure
from nbllm.generators import Job, SequentialAsyncGenerator, SequentialAsyncGenerator2

N, CONCURRENCY, LATENCY, REPEATS = 2000, 64, 0.05, 5
MESSAGES = [[{"role": "user", "content": f"question {i}"}] for i in range(N)]


def _read(answer: dict) -> str | None:
    """A JSON answer's text, where its thinking and the thinking's tokens came with it."""
    message, usage = answer["choices"][0]["message"], answer["usage"]
    thought = usage["completion_tokens_details"]["reasoning_tokens"]
    return message["content"] if message.get("reasoning_content") and thought else None


async def _raw(base_url: str, transport: str) -> int:
    """The raw client as its README shows it, the reasoning fields read too; transport "post" is
    its leanest use (aiohttp, a JSON body through ``client.post``, the answer as a dict), which
    is how nbllm sends."""
    http_client = openai.DefaultAioHttpClient() if transport in ("aiohttp", "post") else None
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, http_client=http_client)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(messages):
        async with limit:
            if transport == "post":
                body = {"model": "bench", "messages": messages, "max_tokens": 16}
                return _read(await client.post("/chat/completions", body=body, cast_to=object))
            response = await client.chat.completions.create(model="bench", messages=messages, max_tokens=16)
            message, usage = response.choices[0].message, response.usage
            thinking = getattr(message, "reasoning_content", None)  # a field the client does not name
            thought = usage.completion_tokens_details.reasoning_tokens if usage else None
            return message.content if thinking and thought else None

    try:
        answers = await asyncio.gather(*(one(m) for m in MESSAGES))
    finally:
        await client.close()
    return sum(1 for a in answers if a)


async def _bare(base_url: str) -> int:
    """No library code at all: one aiohttp session posts the JSON and reads it back. The
    floor for anything in Python on this machine, beside the latency server."""
    limit = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}

    async def one(session: aiohttp.ClientSession, messages) -> str | None:
        async with limit:
            body = json.dumps({"model": "bench", "messages": messages, "max_tokens": 16})
            async with session.post(f"{base_url}/chat/completions", data=body, headers=headers) as answer:
                return _read(json.loads(await answer.read()))

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        answers = await asyncio.gather(*(one(session, m) for m in MESSAGES))
    return sum(1 for a in answers if a)


def _llm(base_url: str, **config) -> nbllm.OpenAILLM:
    config = {"concurrency": CONCURRENCY, "cache": False, **config}
    llm = nbllm.OpenAILLM(model="bench", base_url=base_url, **config)
    llm.run("warm up", max_tokens=16)
    return llm


def _new_cache(llm: nbllm.OpenAILLM, path: str) -> None:
    """A new, empty cache file, so every request of the next run is looked up, missed and
    stored; opened here, outside the timing, as a warm kernel has it."""
    llm.cache_path = path
    llm.engine.cache.get("warm")


def _server_cpu(base_url: str) -> tuple[float, int]:
    """The server's CPU seconds so far and the requests it served."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=5) as answer:
        stats = json.loads(answer.read())
    return stats["cpu_time"], stats["requests"]


def _server_ms(base_url: str, start: tuple[float, int]) -> float:
    """The server's CPU milliseconds a request since `start` (a _server_cpu reading)."""
    cpu, served = _server_cpu(base_url)
    return (cpu - start[0]) / max(served - start[1], 1) * 1000


def _answered(outputs) -> int:
    """Answers with their thinking and its reported token count read."""
    return sum(
        1
        for o in outputs
        for g in o.generations
        if g.ok and g.reasoning == THINKING and g.stats.reasoning_tokens == THINKING_TOKENS
    )


def overhead_figures() -> list[Figure]:
    """Figures 1 and 2: wall and client CPU per request, and the sync path in a running loop."""
    ideal = math.ceil(N / CONCURRENCY) * LATENCY
    runs: dict[str, list[Timing]] = {
        k: []
        for k in (
            "bare",
            "httpx",
            "aiohttp",
            "post",
            "nbllm",
            "nbllm-default",
            "gen2",
            "sync-in-loop",
            "async",
        )
    }
    answered: dict[str, int] = {}
    folder = tempfile.TemporaryDirectory()
    with folder, latency_server(LATENCY) as url:
        llm = _llm(url)
        default = _llm(url, cache=True, cache_path=f"{folder.name}/warm.sqlite3")  # as a user has it
        job = Job(instruction="Answer.", template="{q}", params={"max_tokens": 16})
        gen2 = SequentialAsyncGenerator2(job, llm, max_concurrency=CONCURRENCY)
        start = _server_cpu(url)

        async def in_loop_sync():  # a Jupyter cell: sync generate inside a running loop
            answered["sync-in-loop"] = _answered(llm.generate(MESSAGES, max_tokens=16))

        async def plain_async():
            answered["async"] = _answered(await llm.agenerate_many(MESSAGES, max_tokens=16))

        for _ in range(REPEATS):
            runs["bare"].append(measure(lambda: answered.__setitem__("bare", asyncio.run(_bare(url)))))
            for transport in ("httpx", "aiohttp", "post"):
                runs[transport].append(
                    measure(lambda t=transport: answered.__setitem__(t, asyncio.run(_raw(url, t))))
                )
            runs["nbllm"].append(
                measure(
                    lambda: answered.__setitem__("nbllm", _answered(llm.generate(MESSAGES, max_tokens=16)))
                )
            )
            _new_cache(default, f"{folder.name}/run-{len(runs['nbllm-default'])}.sqlite3")
            runs["nbllm-default"].append(
                measure(
                    lambda: answered.__setitem__(
                        "nbllm-default", _answered(default.generate(MESSAGES, max_tokens=16))
                    )
                )
            )
            runs["gen2"].append(
                measure(
                    lambda: answered.__setitem__(
                        "gen2",
                        sum(r[0].ok for r in gen2.generate([{"q": m[0]["content"]} for m in MESSAGES])),
                    )
                )
            )
            runs["sync-in-loop"].append(measure(lambda: asyncio.run(in_loop_sync())))
            runs["async"].append(measure(lambda: asyncio.run(plain_async())))
        server_ms = _server_ms(url, start)
    b = {k: best(v) for k, v in runs.items()}
    all_answered = all(answered[k] == N for k in answered)
    raw = b["aiohttp"]
    return [
        Figure(
            "1a wall, OpenAILLM.generate (defaults: cache on) vs raw aiohttp client",
            b["nbllm-default"].wall,
            raw.wall,
            "s",
            "<= 1.0x",
            b["nbllm-default"].wall <= 1.0 * raw.wall and all_answered,
            "every request looked up, missed and stored in a new cache file; the raw client's leanest "
            f"use (post, a dict back) {b['post'].wall / raw.wall:.2f}x; aiohttp server, {server_ms:.2f} ms "
            "of server CPU a request",
        ),
        Figure(
            "1b CPU/request, OpenAILLM.generate (defaults: cache on) vs raw aiohttp",
            b["nbllm-default"].cpu / N * 1000,
            raw.cpu / N * 1000,
            "ms",
            "<= 1.15x",
            b["nbllm-default"].cpu <= 1.15 * raw.cpu,
            "CPU of the whole process, cache writer thread included",
        ),
        Figure(
            "1a wall, OpenAILLM.generate (cache off) vs raw aiohttp client",
            b["nbllm"].wall,
            raw.wall,
            "s",
            "<= 0.95x",
            b["nbllm"].wall <= 0.95 * raw.wall and all_answered,
            f"ideal {ideal:.2f}s; raw httpx {b['httpx'].wall:.2f}s; answered {answered}",
        ),
        Figure(
            "1b CPU/request, OpenAILLM.generate (cache off) vs raw aiohttp",
            b["nbllm"].cpu / N * 1000,
            raw.cpu / N * 1000,
            "ms",
            "<= 1.15x",
            b["nbllm"].cpu <= 1.15 * raw.cpu,
            f"raw httpx {b['httpx'].cpu / N * 1000:.2f} ms",
        ),
        Figure(
            "1c wall, SequentialAsyncGenerator2 vs raw aiohttp",
            b["gen2"].wall,
            raw.wall,
            "s",
            "<= 1.1x",
            b["gen2"].wall <= 1.1 * raw.wall,
            f"CPU/request {b['gen2'].cpu / N * 1000:.2f} ms",
        ),
        Figure(
            "1d wall, OpenAILLM.generate (defaults) vs ideal ceil(N/C)*latency",
            b["nbllm-default"].wall,
            ideal,
            "s",
            "<= 1.15x",
            b["nbllm-default"].wall <= 1.15 * ideal,
            f"cache off: {b['nbllm'].wall / ideal:.2f}x; the raw client alone {raw.wall / ideal:.2f}x, "
            f"its leanest use {b['post'].wall / ideal:.2f}x (client CPU {raw.cpu:.1f} s and "
            f"{b['post'].cpu:.1f} s for what ideally takes {ideal:.1f} s); bare aiohttp, no library "
            f"code, {b['bare'].wall / ideal:.2f}x",
        ),
        Figure(
            "2 wall, sync generate in a running loop vs async path",
            b["sync-in-loop"].wall,
            b["async"].wall,
            "s",
            "<= 1.1x",
            b["sync-in-loop"].wall <= 1.1 * b["async"].wall,
        ),
    ]


def asgi_figures() -> list[Figure]:
    """Figures 1e and 1f: the defaults against the raw client on the ASGI server (uvicorn with
    uvloop and httptools), which costs a fraction of the aiohttp server's CPU per request, so
    the client's own cost decides the wall time."""
    runs: dict[str, list[Timing]] = {k: [] for k in ("aiohttp", "post", "nbllm", "nbllm-default")}
    answered: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder, latency_server(LATENCY, "asgi") as url:
        llm = _llm(url)
        default = _llm(url, cache=True, cache_path=f"{folder}/warm.sqlite3")  # as a user has it
        start = _server_cpu(url)
        for i in range(REPEATS):
            for transport in ("aiohttp", "post"):
                runs[transport].append(
                    measure(lambda t=transport: answered.__setitem__(t, asyncio.run(_raw(url, t))))
                )
            runs["nbllm"].append(
                measure(
                    lambda: answered.__setitem__("nbllm", _answered(llm.generate(MESSAGES, max_tokens=16)))
                )
            )
            _new_cache(default, f"{folder}/run-{i}.sqlite3")
            runs["nbllm-default"].append(
                measure(
                    lambda: answered.__setitem__(
                        "nbllm-default", _answered(default.generate(MESSAGES, max_tokens=16))
                    )
                )
            )
        server_ms = _server_ms(url, start)
    b = {k: best(v) for k, v in runs.items()}
    raw, nb = b["aiohttp"], b["nbllm-default"]
    all_answered = all(answered[k] == N for k in answered)
    return [
        Figure(
            "1e wall, OpenAILLM.generate (defaults: cache on) vs raw aiohttp client, ASGI server",
            nb.wall,
            raw.wall,
            "s",
            "<= 1.0x",
            nb.wall <= raw.wall and all_answered,
            f"uvicorn with uvloop and httptools, {server_ms:.2f} ms of server CPU a request; cache off "
            f"{b['nbllm'].wall / raw.wall:.2f}x; the raw client's leanest use (post, a dict back) "
            f"{b['post'].wall / raw.wall:.2f}x; answered {answered}",
        ),
        Figure(
            "1f CPU/request, OpenAILLM.generate (defaults: cache on) vs raw aiohttp, ASGI server",
            nb.cpu / N * 1000,
            raw.cpu / N * 1000,
            "ms",
            "<= 1.0x",
            nb.cpu <= raw.cpu,
            f"CPU of the whole process, cache writer thread included; cache off "
            f"{b['nbllm'].cpu / N * 1000:.2f} ms, the raw client's leanest use {b['post'].cpu / N * 1000:.2f} ms",
        ),
    ]


def generator_figure() -> Figure:
    """SequentialAsyncGenerator2 against SequentialAsyncGenerator on an endpoint with latency."""
    inputs = [{"q": f"question {i}"} for i in range(40)]
    job = Job(instruction="Answer.", template="{q}", params={"max_tokens": 16})
    with latency_server(0.1) as url:
        llm = _llm(url, concurrency=32)
        seq = [
            measure(lambda: SequentialAsyncGenerator(job, llm, num_runs=2).generate(inputs)) for _ in range(2)
        ]
        fast = [
            measure(
                lambda: SequentialAsyncGenerator2(job, llm, num_runs=2, max_concurrency=32).generate(inputs)
            )
            for _ in range(2)
        ]
    s, f = best(seq).wall, best(fast).wall
    return Figure(
        "gen wall, SequentialAsyncGenerator2 vs SequentialAsyncGenerator (40 inputs x 2 runs, 100 ms)",
        f,
        s,
        "s",
        "< 1x (faster)",
        f < s,
        f"speed-up {s / f:.1f}x",
    )


def cache_figure() -> Figure:
    """Figure 5: rerunning 1000 cached prompts."""
    messages = MESSAGES[:1000]
    with tempfile.TemporaryDirectory() as folder, latency_server(LATENCY) as url:
        llm = nbllm.OpenAILLM(
            model="bench", base_url=url, concurrency=CONCURRENCY, cache_path=f"{folder}/c.sqlite3"
        )
        first = measure(lambda: llm.generate(messages, max_tokens=16))
        reruns = []
        for _ in range(3):
            holder = {}
            reruns.append(
                measure(lambda h=holder: h.setdefault("out", llm.generate(messages, max_tokens=16)))
            )
            assert all(g.stats.cache_hit for o in holder["out"] for g in o.generations)
    again = best(reruns).wall
    return Figure(
        "5 rerun of 1000 cached prompts vs the uncached run", again, first.wall, "s", "< 0.1 s", again < 0.1
    )

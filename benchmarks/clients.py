"""Figures 1, 2 and 5, and the generator comparison: nbllm against the raw openai client."""

from __future__ import annotations

import asyncio
import json
import math
import tempfile

import aiohttp
import openai

import nbllm
from benchmarks.common import Figure, Timing, best, latency_server, measure
from nbllm.generators import Job, SequentialAsyncGenerator, SequentialAsyncGenerator2

N, CONCURRENCY, LATENCY, REPEATS = 2000, 64, 0.05, 5
MESSAGES = [[{"role": "user", "content": f"question {i}"}] for i in range(N)]


async def _raw(base_url: str, transport: str) -> int:
    """The raw client as its README shows it; transport "post" is its leanest use (aiohttp, a
    JSON body through ``client.post``, the answer as a dict), which is how nbllm sends."""
    http_client = openai.DefaultAioHttpClient() if transport in ("aiohttp", "post") else None
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, http_client=http_client)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(messages):
        async with limit:
            if transport == "post":
                body = {"model": "bench", "messages": messages, "max_tokens": 16}
                answer = await client.post("/chat/completions", body=body, cast_to=object)
                return answer["choices"][0]["message"]["content"]
            response = await client.chat.completions.create(model="bench", messages=messages, max_tokens=16)
            return response.choices[0].message.content

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

    async def one(session: aiohttp.ClientSession, messages) -> str:
        async with limit:
            body = json.dumps({"model": "bench", "messages": messages, "max_tokens": 16})
            async with session.post(f"{base_url}/chat/completions", data=body, headers=headers) as answer:
                return json.loads(await answer.read())["choices"][0]["message"]["content"]

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        answers = await asyncio.gather(*(one(session, m) for m in MESSAGES))
    return sum(1 for a in answers if a)


def _llm(base_url: str, **config) -> nbllm.OpenAILLM:
    config = {"concurrency": CONCURRENCY, "cache": False, **config}
    llm = nbllm.OpenAILLM(model="bench", base_url=base_url, **config)
    llm.run("warm up", max_tokens=16)
    return llm


def _answered(outputs) -> int:
    return sum(1 for o in outputs for g in o.generations if g.ok)


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
            # a new, empty cache file each time: every request is looked up, missed and stored
            default.cache_path = f"{folder.name}/run-{len(runs['nbllm-default'])}.sqlite3"
            default.engine.cache.get("warm")  # open the file outside the timing, as a warm kernel has it
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
            f"use (post, a dict back) {b['post'].wall / raw.wall:.2f}x",
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

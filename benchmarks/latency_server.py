"""A fixed-latency OpenAI-compatible server for benchmarks, on 127.0.0.1 only.

Chat completions (plain and streaming) answer after ``--latency`` seconds with usage numbers;
``GET /stats`` reports the server's own CPU time so a benchmark can tell that the server was
not the bottleneck. Responses are prebuilt: the server does as little work as it can.

    python benchmarks/latency_server.py --port 8123 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

WORDS = "the quick brown fox jumps over the lazy dog".split()


def make_app(latency: float) -> web.Application:
    served = {"requests": 0}

    def completion(n: int) -> bytes:
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": " ".join(WORDS)},
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
        return json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 0,
                "model": "bench",
                "choices": choices,
                "usage": {"prompt_tokens": 12, "completion_tokens": 9 * n, "total_tokens": 12 + 9 * n},
            }
        ).encode()

    bodies = {n: completion(n) for n in range(1, 9)}

    async def chat(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        served["requests"] += 1
        await asyncio.sleep(latency)
        if not payload.get("stream"):
            return web.Response(
                body=bodies.get(int(payload.get("n") or 1), bodies[1]), content_type="application/json"
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in WORDS:
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "bench",
                "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model"}]})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"cpu_time": time.process_time(), "requests": served["requests"]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    web.run_app(make_app(args.latency), host="127.0.0.1", port=args.port, print=None, backlog=1024)


if __name__ == "__main__":
    main()

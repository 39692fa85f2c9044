"""A fixed-latency OpenAI-compatible server for benchmarks (aiohttp), on 127.0.0.1 only.

Chat completions (plain and streaming) answer after ``--latency`` seconds with usage numbers
and a reasoning model's fields (benchmarks/answers.py); ``GET /stats`` reports the server's own
CPU time so a benchmark can tell that the server was not the bottleneck. Responses are
prebuilt: the server does as little work as it can. asgi_server.py is the same server on a
leaner stack.

    python benchmarks/latency_server.py --port 8123 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.answers import MODELS, completion_for, stream_for


def make_app(latency: float) -> web.Application:
    served = {"requests": 0}

    async def chat(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        served["requests"] += 1
        await asyncio.sleep(latency)
        if not payload.get("stream"):
            return web.Response(body=completion_for(payload), content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in stream_for(payload):
            await response.write(event)
        return response

    async def models(_: web.Request) -> web.Response:
        return web.Response(body=MODELS, content_type="application/json")

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

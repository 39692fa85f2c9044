"""The fixed-latency OpenAI-compatible server as a bare ASGI app (no framework) under uvicorn
with uvloop and httptools, on 127.0.0.1 only: the same endpoints and answers as
latency_server.py (benchmarks/answers.py) for a fraction of its CPU per request, so a client's
own cost shows more plainly. Needs nbllm's ``bench`` extra (uvicorn, uvloop, httptools).

    python benchmarks/asgi_server.py --port 8123 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.answers import MODELS, completion_for, stream_for

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON = [(b"content-type", b"application/json")]


def make_app(latency: float) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    served = {"requests": 0}

    async def whole(body: bytes, send: Send, status: int = 200) -> None:
        headers = [*JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def chat(receive: Receive, send: Send) -> None:
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        payload = json.loads(b"".join(parts))
        served["requests"] += 1
        await asyncio.sleep(latency)
        if not payload.get("stream"):
            await whole(completion_for(payload), send)
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for event in stream_for(payload):
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        route = (scope["method"], scope["path"])
        if route == ("POST", "/v1/chat/completions"):
            await chat(receive, send)
        elif route == ("GET", "/v1/models"):
            await whole(MODELS, send)
        elif route == ("GET", "/stats"):
            await whole(json.dumps({"cpu_time": time.process_time(), **served}).encode(), send)
        else:
            await whole(b'{"error": {"message": "not found"}}', send, 404)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.latency),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=1024,
    )


if __name__ == "__main__":
    main()

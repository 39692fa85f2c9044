"""An OpenAI-compatible chat server on 127.0.0.1 that injects faults on a schedule.

The schedule travels in the prompt: ``"faults=429ra0.3,500|question 7"`` fails the first request
for that prompt with 429 (Retry-After: 0.3), the second with 500, and answers the third with
``"ok:question 7"``. Faults: 429raS (429 with Retry-After S seconds, S may be any text), 429
(without), 500, 502, 503, timeout (answers after 5 s), drop (closes the connection), 400, 401,
echo401, 404, malformed (200 with a body that is not JSON), html (200 with a web page, as a
login proxy sends), nochoices (200 without choices),
500noretry (500 with x-should-retry: false), 400retry (400 with x-should-retry: true), cut (a
stream that ends cleanly halfway, without finish_reason or [DONE]). A request with ``n``
gets that many choices, each a word longer, under one usage; a prompt starting with ``long``
is billed 2000 completion tokens a choice. A request with
``"stream": true`` is answered as server-sent events, one word a chunk. A prompt starting with
``slowstream`` streams a chunk every 50 ms.

``GET /v1/models`` lists the model ``fault`` with a context of 2048 tokens (as vLLM states it),
and answers 401 echoing the key when the key starts with ``bad``. ``GET /stats``
returns every prompt's arrival times, the highest number of requests in flight at once, how
often the models were listed, and the Authorization headers seen.

    python tests/fault_server.py --port 8123
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict

from aiohttp import web


def make_app() -> web.Application:
    arrivals: dict[str, list[float]] = defaultdict(list)
    flight = {"epoch": 0, "now": 0, "peak": 0, "model_lists": 0}  # a reset starts a new epoch
    auth: list[str] = []

    def answer(content: str, model: str, n: int = 1) -> web.Response:
        texts = [f"ok:{content}"] + [f"ok:{content}" + " more" * i for i in range(1, n)]
        completion = 3 * n + 2 * sum(range(n))  # a word more per choice (about two tokens)
        if content.startswith("long"):  # billed as a long answer (the usage says 2000 tokens)
            completion = 2000 * n
        body = {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                for i, text in enumerate(texts)
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": completion, "total_tokens": 5 + completion},
        }
        return web.json_response(body)

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(
            {"error": {"message": message, "type": "fault", "code": status}}, status=status, headers=headers
        )

    async def stream(request: web.Request, text: str, model: str, cut: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = f"ok:{text}".split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        shown = pieces[: max(1, len(pieces) // 2)] if cut else pieces
        for piece in shown:
            chunk = {
                "id": "chatcmpl-fault",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if text.startswith("slowstream"):
                await asyncio.sleep(0.05)
        if not cut:
            last = {
                "id": "chatcmpl-fault",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": len(pieces),
                    "total_tokens": 5 + len(pieces),
                },
            }
            await response.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    async def chat(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        auth.append(request.headers.get("Authorization", ""))
        content = payload["messages"][-1]["content"]
        arrivals[content].append(time.monotonic())
        epoch = flight["epoch"]
        flight["now"] += 1
        flight["peak"] = max(flight["peak"], flight["now"])
        try:
            await asyncio.sleep(0.2 if content.startswith(("question", "restart")) else 0.01)
            schedule, _, text = content.partition("|") if content.startswith("faults=") else ("", "", content)
            faults = [f for f in schedule.removeprefix("faults=").split(",") if f]
            attempt = len(arrivals[content]) - 1
            fault = faults[attempt] if attempt < len(faults) else None
            model = payload.get("model", "fault")
            if fault is None or fault == "cut":
                if payload.get("stream"):
                    return await stream(request, text, model, cut=fault == "cut")
                return answer(text, model, int(payload.get("n") or 1))
            if fault.startswith("429ra"):
                return error(429, "slow down", {"retry-after": fault[5:]})
            if fault in ("429", "500", "502", "503", "400", "404"):
                return error(int(fault), f"injected {fault}")
            if fault == "500noretry":
                return error(500, "injected 500, do not retry", {"x-should-retry": "false"})
            if fault == "400retry":
                return error(400, "injected 400, retry", {"x-should-retry": "true"})
            if fault == "nochoices":
                return web.json_response({"id": "x", "object": "chat.completion", "model": model})
            if fault == "401":
                return error(401, "invalid api key")
            if fault == "echo401":  # a careless server that repeats the credentials it got
                return error(401, f"bad credentials: {request.headers.get('Authorization')}")
            if fault == "timeout":
                await asyncio.sleep(5)
                return answer(text, payload.get("model", "fault"))
            if fault == "drop":
                request.transport.close()
                return web.Response(status=500)
            if fault == "html":
                return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")
            if fault == "malformed":
                return web.Response(body=b"{not json", content_type="application/json")
            return error(400, f"unknown fault {fault!r}")
        finally:
            if epoch == flight["epoch"]:
                flight["now"] -= 1

    async def models(request: web.Request) -> web.Response:
        flight["model_lists"] += 1
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if key.startswith("bad"):
            return error(401, f"Incorrect API key provided: {key}")
        # as vLLM does, the model list states the context length
        return web.json_response(
            {"object": "list", "data": [{"id": "fault", "object": "model", "max_model_len": 2048}]}
        )

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "arrivals": arrivals,
                "peak_in_flight": flight["peak"],
                "model_lists": flight["model_lists"],
                "auth": auth,
            }
        )

    async def reset(_: web.Request) -> web.Response:
        arrivals.clear()
        auth.clear()
        flight.update(epoch=flight["epoch"] + 1, now=0, peak=0, model_lists=0)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)

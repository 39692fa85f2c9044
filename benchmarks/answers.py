"""What the benchmark servers answer, prebuilt once: an OpenAI chat completion as a reasoning
model's server sends it (the thinking in ``reasoning_content``, its tokens in
``usage.completion_tokens_details.reasoning_tokens``), and the same answer as a stream.

Both servers (latency_server.py, asgi_server.py) send these bytes, so a client reads the same
fields from either, the reasoning ones included.
"""

from __future__ import annotations

import json
from typing import Any

WORDS = "the quick brown fox jumps over the lazy dog".split()
THINKING = "a short question, so a short answer"
THINKING_TOKENS = len(THINKING.split())
PROMPT_TOKENS = 12


def _usage(n: int) -> dict[str, Any]:
    output = (len(WORDS) + THINKING_TOKENS) * n
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": output,
        "total_tokens": PROMPT_TOKENS + output,
        "completion_tokens_details": {"reasoning_tokens": THINKING_TOKENS * n},
    }


def completion(n: int) -> bytes:
    """The body of a chat completion with `n` choices."""
    message = {"role": "assistant", "content": " ".join(WORDS), "reasoning_content": THINKING}
    choices = [{"index": i, "message": message, "finish_reason": "stop"} for i in range(n)]
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": choices,
        "usage": _usage(n),
    }
    return json.dumps(body).encode()


COMPLETIONS = {n: completion(n) for n in range(1, 9)}


def completion_for(payload: dict[str, Any]) -> bytes:
    """The prebuilt body for a request's ``n`` (1 to 8; one choice otherwise)."""
    return COMPLETIONS.get(int(payload.get("n") or 1), COMPLETIONS[1])


def _event(choices: list[dict[str, Any]], **more: Any) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench", "choices": choices}
    return b"data: " + json.dumps({**chunk, **more}).encode() + b"\n\n"


def _delta(delta: dict[str, str], finish: str | None = None) -> bytes:
    return _event([{"index": 0, "delta": delta, "finish_reason": finish}])


# A stream: the thinking, the answer word by word, the finish reason, [the usage,] the end.
STREAM = [
    _delta({"reasoning_content": THINKING}),
    *(_delta({"content": word + " "}) for word in WORDS),
    _delta({}, "stop"),
]
STREAMS = {
    False: [*STREAM, b"data: [DONE]\n\n"],
    True: [*STREAM, _event([], usage=_usage(1)), b"data: [DONE]\n\n"],
}


def stream_for(payload: dict[str, Any]) -> list[bytes]:
    """The prebuilt stream's events; with the usage when the request asks for it."""
    return STREAMS[bool((payload.get("stream_options") or {}).get("include_usage"))]


MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()

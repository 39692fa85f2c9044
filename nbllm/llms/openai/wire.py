"""The OpenAI wire format as plain JSON: the body nbllm posts, the answer it reads.

nbllm builds each request body itself (``OpenAILLM.request_body``), so it posts it through the
`openai` client's documented ``post`` and reads the answer as a dict. The client still adds the
key, opens the connections and turns error statuses into its exceptions; what this skips is
its per-request pass over the parameter types and the pydantic models of the answer, which cost
more CPU than everything else nbllm does for a request (benchmarks/clients.py measures it).

Runs on the I/O loop: ``post`` and ``post_stream`` await the client there; the rest is pure.
"""

from __future__ import annotations

from typing import Any

from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import BackendError


def path_of(request: RawRequest) -> str:
    """A completion for a rendered prompt, else a chat completion."""
    return "/completions" if request.prompt is not None else "/chat/completions"


async def post(client: Any, request: RawRequest, body: dict[str, Any]) -> Any:
    """The answer to `body` as the server sent it (a dict when it is JSON)."""
    return await client.post(path_of(request), body=body, cast_to=object)


async def post_stream(client: Any, request: RawRequest, body: dict[str, Any]) -> Any:
    """An async iterator of the stream's chunks, each a dict."""
    import openai

    return await client.post(
        path_of(request), body=body, cast_to=object, stream=True, stream_cls=openai.AsyncStream[object]
    )


def choice_text(choice: dict[str, Any]) -> str:
    """A choice's text: a completion's ``text``, a chat answer's message, a chunk's delta."""
    if "text" in choice:
        return choice["text"] or ""
    part = choice.get("message") or choice.get("delta") or {}
    return part.get("content") or ""


SHARED_PROMPT_NOTE = "one request made several samples: its prompt tokens are counted on the first"


def generations(answer: Any, where: str) -> list[RawGeneration]:
    """One RawGeneration per choice of an answer body. The prompt was billed once, so the first
    choice carries its tokens and the others none; the completion tokens of several choices are
    shared by text length, so they are marked as estimated. No choices at all is the server's
    fault, said plainly."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices:
        raise BackendError(
            f"{where} answered without any choices (body starts {str(answer)[:120]!r}); it may not "
            "be an OpenAI-compatible endpoint, or the model failed: check base_url and the server's log."
        )
    usage = answer.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    texts = [choice_text(c) for c in choices]
    if len(texts) == 1:
        return [RawGeneration(texts[0], prompt_tokens, completion, choices[0].get("finish_reason"))]
    total_chars = sum(len(t) for t in texts) or 1
    return [
        RawGeneration(
            text,
            prompt_tokens if i == 0 else 0,
            round(completion * len(text) / total_chars),
            choice.get("finish_reason"),
            tokens_estimated=True,
            notes=(SHARED_PROMPT_NOTE,),
        )
        for i, (choice, text) in enumerate(zip(choices, texts))
    ]


def has_usage(answer: Any) -> bool:
    return isinstance(answer, dict) and bool(answer.get("usage"))

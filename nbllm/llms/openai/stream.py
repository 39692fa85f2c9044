"""Streaming from an OpenAI-compatible server: the answer's pieces (and the thinking's) as they
come, then a RawGeneration with the stream's token counts (nbllm's estimate when the stream
sends none). A server that refuses ``stream_options`` is learnt about and asked again without
it; a refused max_tokens is asked again under the name the server takes.

``stream`` takes the LLM's endpoint and the LLM as a wire.BodyMaker (its request_body and count_tokens)
and runs on nbllm's I/O loop; only the token estimate goes to a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from nbllm.core.thinking import ReasoningDelta
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import NBLLMError
from nbllm.llms.openai import dialect, wire
from nbllm.llms.openai.capabilities import first_line
from nbllm.llms.openai.endpoint import OpenAIEndpoint
from nbllm.llms.openai.errors import refused_request_text
from nbllm.llms.openai.notes import estimated, with_seed_note


async def stream(
    endpoint: OpenAIEndpoint, llm: wire.BodyMaker, request: RawRequest
) -> AsyncIterator[str | ReasoningDelta | RawGeneration]:
    body: dict[str, Any] = {**llm.request_body(dataclasses.replace(request, n=1), None), "stream": True}
    if endpoint.capabilities.stream_options:
        body["stream_options"] = {"include_usage": True}
    reader = wire.StreamReader()
    error: NBLLMError | None = None
    refusal: str | None = None
    try:
        chunks = await endpoint.post_stream(request, body)
        async for chunk in chunks:
            for item in reader.read(chunk):
                yield item
        for item in reader.close():
            yield item
    except Exception as exc:
        refusal = refused_request_text(exc)
        error = endpoint.convert(exc)
    if error is not None:
        learnt = endpoint.learn_refusal(refusal, body)
        if learnt is not None and learnt[0] != "max_tokens_field":
            raise dialect.refused_error(endpoint.model, endpoint.where, learnt, error)
        said = reader.pieces or reader.thinking
        if learnt is not None or (not said and refusal is not None and "stream_options" in refusal):
            if learnt is None:
                endpoint.learn("stream_options", False, f"refused: {first_line(refusal or '')}")
            async for item in stream(endpoint, llm, request):  # asked again as the server takes it
                yield item
            return
        raise error
    result = reader.generation()
    if reader.usage is None:
        endpoint.learn("stream_usage", False, "no usage in the stream; nbllm counts the tokens")
        result = await asyncio.to_thread(estimated, llm.count_tokens, request, result, reader.text)
    else:
        endpoint.learn("stream_usage", True, "usage in the last chunk")
    (result,) = await with_seed_note(
        request, [result], endpoint.capabilities, endpoint.where, endpoint.secrets()
    )
    yield result

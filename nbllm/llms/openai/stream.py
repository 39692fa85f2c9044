"""Streaming from an OpenAI-compatible server: each piece of text as it comes, then a
RawGeneration with the stream's token counts (nbllm's estimate when the stream sends none).
A server that refuses ``stream_options`` is learnt about and asked again without it.

``stream`` takes the OpenAILLM as ``llm`` and runs on nbllm's I/O loop; only the token
estimate goes to a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import NBLLMError
from nbllm.llms.openai import wire
from nbllm.llms.openai.capabilities import first_line
from nbllm.llms.openai.errors import refused_request_text
from nbllm.llms.openai.notes import estimated, with_seed_note


async def stream(llm: Any, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
    client = await llm._ensure_client()
    endpoint = llm._endpoint()
    body: dict[str, Any] = {**llm.request_body(dataclasses.replace(request, n=1), None), "stream": True}
    if endpoint.stream_options:
        body["stream_options"] = {"include_usage": True}
    reader = wire.StreamReader()
    error: NBLLMError | None = None
    refusal: str | None = None
    try:
        chunks = await wire.post_stream(client, request, body)
        async for chunk in chunks:
            for item in reader.read(chunk):
                yield item
        for item in reader.close():
            yield item
    except Exception as exc:
        refusal = refused_request_text(exc)
        error = llm._convert(exc)
    if error is not None:
        learnt = llm._learn_refusal(refusal, body)
        if learnt is not None:
            if learnt[0] == "max_tokens_field":  # the same bound under the name it takes
                async for item in llm._astream_raw(request):
                    yield item
                return
            raise llm._refused_param(learnt, error)
        if not reader.pieces and not reader.thinking and refusal is not None and "stream_options" in refusal:
            llm._learn("stream_options", False, f"refused: {first_line(refusal)}")
            async for item in llm._astream_raw(request):
                yield item
            return
        raise error
    result = reader.generation()
    if reader.usage is None:
        llm._learn("stream_usage", False, "no usage in the stream; nbllm counts the tokens")
        result = await asyncio.to_thread(estimated, llm.count_tokens, request, result, reader.text)
    else:
        llm._learn("stream_usage", True, "usage in the last chunk")
    (result,) = await with_seed_note(request, [result], llm._endpoint(), llm._where(), llm._secrets())
    yield result

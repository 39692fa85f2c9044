"""Structured output and refused requests on an OpenAI-compatible server: how a request asks
for its schema in each mode, what is sent instead when the server refuses a request for its
shape (a weaker structured-output mode, or one choice at a time), and the one repair request
for an answer that does not fit the schema.

The functions take the LLM's endpoint (what it learns, how its errors read, where its requests
go) and what to call again; the async ones run on nbllm's I/O loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from nbllm.core.schema import parse_json_answer
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import BackendError, NBLLMError, ParseError, public_url, redact
from nbllm.llms.openai import wire
from nbllm.llms.openai.capabilities import (
    first_line,
    mentions_response_format,
    next_structured_mode,
    repair_messages,
    schema_instruction,
    with_instruction,
)
from nbllm.llms.openai.endpoint import OpenAIEndpoint


def ask_for_schema(body: dict[str, Any], request: RawRequest, mode: str) -> list[dict[str, Any]]:
    """Sets the response_format of `body` that `mode` sends, and returns the request's messages,
    with the schema in the prompt unless the server enforces it (json_schema)."""
    assert request.response_schema is not None
    messages = list(request.messages)
    schema = request.response_schema
    if mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": schema},
        }
    else:
        if mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        messages = with_instruction(messages, schema_instruction(schema))
    return messages


async def after_refusal(
    endpoint: OpenAIEndpoint,
    resend: Callable[[RawRequest], Awaitable[list[RawGeneration]]],
    request: RawRequest,
    error: NBLLMError,
    refusal: str | None,
    mode: str | None,
    asked: int,
    auto: bool,
) -> list[RawGeneration]:
    """A request the server refused for its shape: learn what it takes and `resend` that, or
    raise the error (never retried: the same request would be refused again). `auto`: the
    structured output mode is nbllm's to choose."""
    if refusal is None:
        raise error
    if mode is not None and mentions_response_format(refusal):
        fallback = next_structured_mode(mode)
        if not auto or fallback is None:
            raise redact(
                BackendError(
                    f"{error.message} The server does not take structured_output_mode={mode!r}: "
                    "use structured_output_mode='auto' and nbllm finds a format it takes."
                ),
                (),
            )
        endpoint.learn("structured_output", fallback, f"{mode} refused: {first_line(refusal)}")
        return await resend(request)
    if asked > 1:
        # Either n is what the server refuses, or the request is wrong anyway: one choice tells.
        results = await resend(dataclasses.replace(request, n=1))
        endpoint.learn("n_choices", False, f"n={asked} refused: {first_line(refusal)}")
        return results
    raise error


async def repaired(
    endpoint: OpenAIEndpoint, llm: wire.BodyMaker, request: RawRequest, result: RawGeneration, mode: str
) -> RawGeneration:
    """An answer the server did not hold to the schema, checked; if it does not fit, the model
    is shown its answer and the problem once, and asked for the corrected JSON."""
    assert request.response_schema is not None
    try:
        parse_json_answer(result.text, request.response_schema)
        return result
    except ParseError as exc:
        problem = exc.message
    fix = dataclasses.replace(
        request, messages=tuple(repair_messages(list(request.messages), result.text, problem)), n=1
    )
    try:
        answer = await endpoint.post(fix, llm.request_body(fix, mode))
    except Exception as exc:
        raise endpoint.convert(exc) from None
    fixed = wire.generations(answer, public_url(endpoint.where))[0]
    return dataclasses.replace(
        fixed,
        input_tokens=result.input_tokens + fixed.input_tokens,
        output_tokens=result.output_tokens + fixed.output_tokens,
    )

"""A generation with each token's alternatives from an OpenAI-compatible server: ``logprobs``
with ``top_logprobs``, continuing an unfinished answer where the server can.

Blocks the calling thread (never nbllm's I/O loop); the token tree calls it from its own thread.
"""

from __future__ import annotations

from typing import Any

from nbllm.core.messages import Input, to_messages
from nbllm.core.tokens import TokenStep
from nbllm.engine import loop
from nbllm.engine.requests import RetryPolicy
from nbllm.errors import BackendError, NBLLMError, UsageError, public_url
from nbllm.llms.base import AsyncLLM
from nbllm.llms.openai.connection import OPENAI_URL
from nbllm.llms.openai.endpoint import OpenAIEndpoint

MAX_TOP_LOGPROBS = 20  # OpenAI's ceiling for top_logprobs


def token_steps(
    endpoint: OpenAIEndpoint,
    llm: AsyncLLM,
    input: Input,
    answer_prefix: str,
    top_k: int,
    params: dict[str, Any],
) -> list[TokenStep]:
    """The server continues `answer_prefix` as the assistant's unfinished message (llama.cpp's
    server, vLLM and Ollama do; OpenAI's own API answers anew instead)."""
    if loop.in_io_thread():
        raise RuntimeError("token steps block; call it outside nbllm's I/O loop.")
    if answer_prefix and endpoint.where.rstrip("/") == OPENAI_URL.rstrip("/"):
        raise UsageError(
            "OpenAI's API does not continue an unfinished answer, so the token tree cannot fork "
            "there; its alternatives still show. Fork with the embedded model or a llama.cpp, vLLM "
            "or Ollama server."
        )
    merged = {**llm.default_params(), **llm.params.set_values(), **params}
    messages: list[dict[str, str]] = [dict(m) for m in to_messages(input, llm.effective_system_prompt)]
    if answer_prefix:
        messages.append({"role": "assistant", "content": answer_prefix})
    body = {k: merged[k] for k in ("temperature", "top_p", "seed") if merged.get(k) is not None}

    async def ask() -> Any:
        client = await endpoint.client()
        return await client.chat.completions.create(
            model=endpoint.model,
            messages=messages,
            max_tokens=merged.get("max_tokens", 64),
            logprobs=True,
            top_logprobs=min(top_k, MAX_TOP_LOGPROBS),
            **body,
        )

    def call() -> Any:
        try:
            return loop.run_sync(ask())
        except NBLLMError:
            raise
        except Exception as exc:  # the client's exceptions, as nbllm's (and never with the key)
            raise endpoint.convert(exc) from None

    policy = RetryPolicy(max_retries=llm.max_retries, max_retry_after=llm.max_retry_after)
    response = policy.call_sync(call)
    choice = response.choices[0]
    content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
    if not content:
        raise BackendError(
            f"{endpoint.model} at {public_url(endpoint.where)} sent no logprobs, so its token choices cannot be shown."
        )
    return [
        TokenStep(c.token, float(c.logprob), [(a.token, float(a.logprob)) for a in c.top_logprobs or ()])
        for c in content
    ]

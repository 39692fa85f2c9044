"""A generation with each token's alternatives, from the embedded engine (`/completion` with
``n_probs``) or from an OpenAI-compatible server (``logprobs`` with ``top_logprobs``).

Blocks the calling thread (never nbllm's I/O loop); the token tree calls it from its own thread.
"""

from __future__ import annotations

import time
from typing import Any

from nbllm.core.messages import Input, to_messages
from nbllm.core.tokens import TokenStep
from nbllm.engine import loop
from nbllm.engine.requests import RetryPolicy
from nbllm.errors import BackendError, NBLLMError, TransientBackendError, UsageError
from nbllm.llms.openai_connection import OPENAI_URL
from nbllm.llms.openai_errors import convert

SAMPLING = ("temperature", "top_p", "top_k", "min_p", "seed")
MAX_TOP_LOGPROBS = 20  # OpenAI's ceiling for top_logprobs


def llamacpp_steps(
    llm: Any, input: Input, answer_prefix: str, top_k: int, params: dict[str, Any]
) -> list[TokenStep]:
    merged = {**llm.default_params(), **llm.params.set_values(), **params}
    prompt = llm._render(to_messages(input, llm._effective_system_prompt)) + answer_prefix
    body = {k: merged[k] for k in SAMPLING if merged.get(k) is not None}
    body.update(
        prompt=prompt,
        n_predict=merged.get("max_tokens", 64),
        n_probs=top_k,
        cache_prompt=False,
        post_sampling_probs=False,  # the model's own probabilities, before any sampler
    )
    answer = _retried(llm, lambda: llm._post_sync(llm.engine_process, "/completion", body))
    return [
        TokenStep(
            p["token"], float(p["logprob"]), [(a["token"], float(a["logprob"])) for a in p["top_logprobs"]]
        )
        for p in answer.get("completion_probabilities") or ()
    ]


def openai_steps(
    llm: Any, input: Input, answer_prefix: str, top_k: int, params: dict[str, Any]
) -> list[TokenStep]:
    """The server continues `answer_prefix` as the assistant's unfinished message (llama.cpp's
    server, vLLM and Ollama do; OpenAI's own API answers anew instead)."""
    if loop.in_io_thread():
        raise RuntimeError("token steps block; call it outside nbllm's I/O loop.")
    if answer_prefix and llm._where().rstrip("/") == OPENAI_URL.rstrip("/"):
        raise UsageError(
            "OpenAI's API does not continue an unfinished answer, so the token tree cannot fork "
            "there; its alternatives still show. Fork with the embedded model or a llama.cpp, vLLM "
            "or Ollama server."
        )
    merged = {**llm.default_params(), **llm.params.set_values(), **params}
    messages: list[dict[str, str]] = [dict(m) for m in to_messages(input, llm._effective_system_prompt)]
    if answer_prefix:
        messages.append({"role": "assistant", "content": answer_prefix})
    body = {k: merged[k] for k in ("temperature", "top_p", "seed") if merged.get(k) is not None}

    async def ask() -> Any:
        client = await llm._ensure_client()
        return await client.chat.completions.create(
            model=llm.model,
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
            raise convert(exc, llm._secrets(), llm._where()) from None

    response = _retried(llm, call)
    choice = response.choices[0]
    content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
    if not content:
        raise BackendError(
            f"{llm.model} at {llm._where()} sent no logprobs, so its token choices cannot be shown."
        )
    return [
        TokenStep(c.token, float(c.logprob), [(a.token, float(a.logprob)) for a in c.top_logprobs or ()])
        for c in content
    ]


def _retried(llm: Any, call: Any) -> Any:
    """`call()`, retried on passing faults (a server still loading its model, a dropped
    connection) as the engine retries a generation: the LLM's max_retries, with backoff."""
    policy = RetryPolicy(max_retries=llm.max_retries, max_retry_after=llm.max_retry_after)
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except TransientBackendError as exc:
            if attempt > policy.max_retries:
                raise
            time.sleep(policy.delay(attempt, exc.retry_after))

"""A generation with each token's alternatives from the embedded model: llama.cpp's
`/completion` with ``n_probs``, the model's own probabilities before any sampler.

Blocks the calling thread (never nbllm's I/O loop); the token tree calls it from its own thread.
"""

from __future__ import annotations

from typing import Any

from nbllm.core.messages import Input, to_messages
from nbllm.core.tokens import TokenStep
from nbllm.engine.requests import RetryPolicy

SAMPLING = ("temperature", "top_p", "top_k", "min_p", "seed")


def token_steps(
    llm: Any, input: Input, answer_prefix: str, top_k: int, params: dict[str, Any]
) -> list[TokenStep]:
    merged = {**llm.default_params(), **llm.params.set_values(), **params}
    prompt = llm._render(to_messages(input, llm.effective_system_prompt)) + answer_prefix
    body = {k: merged[k] for k in SAMPLING if merged.get(k) is not None}
    body.update(
        prompt=prompt,
        n_predict=merged.get("max_tokens", 64),
        n_probs=top_k,
        cache_prompt=False,
        post_sampling_probs=False,  # the model's own probabilities, before any sampler
    )
    policy = RetryPolicy(max_retries=llm.max_retries, max_retry_after=llm.max_retry_after)
    answer = policy.call_sync(lambda: llm._post_sync(llm.server_process, "/completion", body))
    return [
        TokenStep(
            p["token"], float(p["logprob"]), [(a["token"], float(a["logprob"])) for a in p["top_logprobs"]]
        )
        for p in answer.get("completion_probabilities") or ()
    ]

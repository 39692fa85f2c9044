"""What nbllm knows about models by name, for budgets: how many tokens one answer can have.

OpenAI's models page gives each model's maximum output tokens; a request without max_tokens
can write that many, so a budget must hold that much for it. Other servers say their context
length in their model list (see ``context_length``).

Pure: runs on whatever thread calls it (the I/O loop, for a budget's hold).
"""

from __future__ import annotations

from typing import Any

# Longest prefix first wins: "gpt-4o-mini-2024-07-18" is a "gpt-4o-mini".
MAX_OUTPUT_TOKENS = {
    "gpt-5": 128_000,
    "gpt-4.1": 32_768,
    "gpt-4o": 16_384,
    "chatgpt-4o": 16_384,
    "gpt-4-turbo": 4_096,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 4_096,
    "o1-mini": 65_536,
    "o1": 100_000,
    "o3": 100_000,
    "o4-mini": 100_000,
}


def known_output_ceiling(model: str) -> int | None:
    """The maximum output tokens of a known OpenAI model (by name prefix), else None."""
    name = model.rsplit("/", 1)[-1].lower()  # "openai/gpt-4o" as a proxy names it
    for prefix in sorted(MAX_OUTPUT_TOKENS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "-"):
            return MAX_OUTPUT_TOKENS[prefix]
    return None


def context_length(entry: dict[str, Any]) -> int | None:
    """The context length a server's /v1/models entry states: vLLM's ``max_model_len``,
    OpenRouter's ``context_length``, Groq's ``context_window``, llama.cpp's ``meta.n_ctx`` (else ``n_ctx_train``)."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    for value in (
        entry.get("max_model_len"),
        entry.get("context_length"),
        entry.get("context_window"),
        meta.get("n_ctx"),
        meta.get("n_ctx_train"),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None

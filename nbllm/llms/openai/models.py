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
    "gpt-5.1": 128_000,
    "gpt-5.2": 128_000,
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
    prefix = _prefix(model, MAX_OUTPUT_TOKENS)
    return MAX_OUTPUT_TOKENS[prefix] if prefix is not None else None


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


# OpenAI's reasoning models (its reasoning guide): they take max_completion_tokens, not
# max_tokens, and no sampling parameters; each takes its own reasoning_effort values.
# Longest prefix first wins; None: a model that is not a reasoning model.
REASONING_EFFORTS: dict[str, tuple[str, ...] | None] = {
    "o1": ("low", "medium", "high"),
    "o3": ("low", "medium", "high"),
    "o4-mini": ("low", "medium", "high"),
    "gpt-5": ("minimal", "low", "medium", "high"),
    "gpt-5-pro": ("high",),
    "gpt-5-chat": None,  # gpt-5-chat-latest is the chat model: sampling parameters, no effort
    "gpt-5.1": ("none", "low", "medium", "high"),
    "gpt-5.1-chat": ("medium",),
    "gpt-5.2": ("none", "low", "medium", "high", "xhigh"),
    "gpt-5.2-pro": ("medium", "high", "xhigh"),
}
# From gpt-5.1 on, temperature and top_p are taken while reasoning_effort is "none" (their
# default effort).
SAMPLING_WITH_EFFORT_NONE = ("gpt-5.1", "gpt-5.2")
SAMPLING_PARAMS = ("temperature", "top_p")


def _prefix(model: str, table: Any) -> str | None:
    """The longest key of `table` that names `model`'s family ("openai/gpt-4o" as a proxy
    names it is a "gpt-4o"; "gpt-4o-mini-2024-07-18" is a "gpt-4o-mini")."""
    name = model.rsplit("/", 1)[-1].lower()
    for prefix in sorted(table, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "-"):
            return prefix
    return None


def is_reasoning_model(model: str) -> bool:
    """An OpenAI reasoning model, known by name (o-series, the gpt-5 family)."""
    prefix = _prefix(model, REASONING_EFFORTS)
    return prefix is not None and REASONING_EFFORTS[prefix] is not None


def known_efforts(model: str) -> tuple[str, ...] | None:
    """The reasoning_effort values OpenAI documents for `model` (None: not known by name)."""
    prefix = _prefix(model, REASONING_EFFORTS)
    return REASONING_EFFORTS[prefix] if prefix is not None else None


def takes_sampling_with_effort_none(model: str) -> bool:
    return _prefix(model, dict.fromkeys(SAMPLING_WITH_EFFORT_NONE)) is not None

"""Model inputs: a prompt string or a list of OpenAI chat messages, validated up front.

Pure: runs on whatever thread calls it (validation, on the caller's thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

from nbllm.errors import InvalidInputError

ROLES = ("system", "developer", "user", "assistant", "tool")
_ALLOWED_KEYS = {"role", "content", "name", "tool_call_id"}

Message = dict[str, str]
Messages = tuple[Message, ...]
Input = Union[str, Sequence[Message]]


def to_messages(input: Input, system_prompt: str | None = None, where: str = "input") -> Messages:
    """Validate one input and return it as chat messages (a string becomes one user turn).

    Raises InvalidInputError naming the offending message and key, so a bad input fails
    before any model is touched.
    """
    if isinstance(input, str):
        if not input.strip():
            raise InvalidInputError(f"{where} is an empty prompt: give some text to generate from.")
        messages: list[Message] = [{"role": "user", "content": input}]
    elif isinstance(input, Sequence) and not isinstance(input, (bytes, bytearray)):
        if len(input) == 0:
            raise InvalidInputError(
                f"{where} is an empty list of messages: give at least one "
                '{"role": "user", "content": "..."} message.'
            )
        messages = [_check_message(m, f"{where}[{i}]") for i, m in enumerate(input)]
    else:
        raise InvalidInputError(
            f"{where} must be a string or a list of chat messages, not {type(input).__name__}."
        )
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return tuple(messages)


def to_batch(inputs: Input | Sequence[Input], system_prompt: str | None = None) -> list[Messages]:
    """Validate a batch: a single prompt, a single conversation, or a list of either."""
    if isinstance(inputs, str) or _is_conversation(inputs):
        return [to_messages(inputs, system_prompt)]  # type: ignore[arg-type]
    if not isinstance(inputs, Sequence) or len(inputs) == 0:
        raise InvalidInputError(
            "inputs must be a prompt, a conversation, or a non-empty list of them; "
            f"got {type(inputs).__name__} {inputs!r:.60}."
        )
    return [to_messages(x, system_prompt, f"inputs[{i}]") for i, x in enumerate(inputs)]


def _is_conversation(value: object) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) > 0
        and all(isinstance(m, dict) for m in value)
    )


def _check_message(message: Any, where: str) -> Message:
    if not isinstance(message, dict):
        raise InvalidInputError(
            f"{where} must be a dict like {{'role': 'user', 'content': '...'}}, not {type(message).__name__}."
        )
    for key in ("role", "content"):
        if key not in message:
            raise InvalidInputError(f"{where} has no {key!r} key.")
    unknown = set(message) - _ALLOWED_KEYS
    if unknown:
        raise InvalidInputError(
            f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED_KEYS)}."
        )
    role = message["role"]
    if role not in ROLES:
        raise InvalidInputError(f"{where} has role {role!r}; use one of {', '.join(ROLES)}.")
    content = message["content"]
    if not isinstance(content, str):
        raise InvalidInputError(f"{where} content must be a string, not {type(content).__name__}.")
    return {k: v for k, v in message.items()}


def last_user_text(messages: Messages) -> str:
    """The text of the last user turn (what a table shows as 'the input')."""
    for m in reversed(messages):
        if m["role"] == "user":
            return m["content"]
    return messages[-1]["content"]

"""Prompt formats: turn chat messages into one raw prompt, for base models and custom templates.

Pure: runs on whatever thread calls it (where the request is built).
"""

from __future__ import annotations

from typing import Callable, Union

from nbllm.core.messages import Messages
from nbllm.errors import InvalidParameterError

PromptFormattingFn = Callable[[Messages], str]


def _chatml(messages: Messages) -> str:
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def _llama2(messages: Messages) -> str:
    system = "".join(f"<<SYS>>\n{m['content']}\n<</SYS>>\n\n" for m in messages if m["role"] == "system")
    out = ""
    for m in messages:
        if m["role"] == "user":
            out += f"<s>[INST] {system}{m['content']} [/INST]"
            system = ""
        elif m["role"] == "assistant":
            out += f" {m['content']} </s>"
    return out


def _zephyr(messages: Messages) -> str:
    return "".join(f"<|{m['role']}|>\n{m['content']}</s>\n" for m in messages) + "<|assistant|>\n"


def _alpaca(messages: Messages) -> str:
    system = " ".join(m["content"] for m in messages if m["role"] == "system")
    user = "\n\n".join(m["content"] for m in messages if m["role"] == "user")
    head = f"{system}\n\n" if system else ""
    return f"{head}### Instruction:\n{user}\n\n### Response:\n"


def _plain(messages: Messages) -> str:
    return "\n\n".join(m["content"] for m in messages)


PROMPT_FORMATS: dict[str, PromptFormattingFn] = {
    "chatml": _chatml,
    "llama2": _llama2,
    "zephyr": _zephyr,
    "alpaca": _alpaca,
    "plain": _plain,
}
"""Chat templates by name, turning messages into one raw prompt: an LLM's ``prompt_format="zephyr"``."""


def resolve_prompt_format(
    prompt_format: Union[str, None], prompt_formatting_fn: Union[PromptFormattingFn, None]
) -> PromptFormattingFn | None:
    """The function that renders a prompt, or None to send chat messages as they are."""
    if prompt_formatting_fn is not None:
        if not callable(prompt_formatting_fn):
            raise InvalidParameterError("prompt_formatting_fn must be callable.", "prompt_formatting_fn")
        return prompt_formatting_fn
    if prompt_format is None:
        return None
    if prompt_format not in PROMPT_FORMATS:
        raise InvalidParameterError(
            f"unknown prompt_format {prompt_format!r}; choose one of {', '.join(PROMPT_FORMATS)} "
            "or pass prompt_formatting_fn.",
            "prompt_format",
        )
    return PROMPT_FORMATS[prompt_format]

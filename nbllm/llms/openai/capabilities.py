"""What an OpenAI-compatible endpoint accepts, learnt from its answers and remembered per
endpoint (base URL and model) for the life of the process.

Servers differ where the API leaves room: llama-cpp-python's server refuses the
``json_schema`` response format, llama.cpp's ``llama-server`` refuses ``n > 1``, a proxy may
send no usage in a stream. nbllm finds each out once, from a real answer, and every LLM on
that endpoint then sends what the server takes. ``OpenAILLM.capabilities`` shows what was found.

Learnt on the I/O loop from answers, read on the caller's thread (``capabilities``); a lock
guards the table.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

# Structured output, strongest first: the server enforces the schema, the server returns JSON
# (the schema is also in the prompt), or nbllm puts the schema in the prompt and validates.
STRUCTURED_MODES = ("json_schema", "json_object", "prompt")


@dataclass
class EndpointCapabilities:
    """Found out so far about one endpoint; None means not tried yet."""

    structured_output: str | None = None
    n_choices: bool | None = None
    stream_usage: bool | None = None
    stream_options: bool = True
    seed_note: str | None = None
    seed_checked: bool = False
    context_length: int | None = None  # as the server's model list states it
    max_tokens_field: str | None = None  # "max_completion_tokens" where max_tokens was refused
    refused_params: dict[str, str] = field(default_factory=dict)  # parameter: the server's words
    efforts: tuple[str, ...] | None = None  # the reasoning_effort values the server named
    notes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        """A readable summary: each capability and how it was found."""
        described = {
            "structured_output": self.structured_output,
            "n_choices": {True: "supported", False: "one per request (nbllm fans out)"}.get(self.n_choices),
            "stream_usage": {True: "sent by the server", False: "estimated by nbllm"}.get(self.stream_usage),
            "seed": (self.seed_note or "reproducible") if self.seed_checked else None,
            "context_length": f"{self.context_length} tokens" if self.context_length else None,
            "max_tokens_field": self.max_tokens_field,
            "reasoning_effort": ", ".join(self.efforts) if self.efforts else None,
            **{f"refuses {name}": words for name, words in self.refused_params.items()},
        }
        return {
            name: value + (f" ({self.notes[name]})" if name in self.notes else "")
            for name, value in described.items()
            if value is not None
        }


_ENDPOINTS: dict[tuple[str, str], EndpointCapabilities] = {}
_LOCK = threading.Lock()


def capabilities_of(base_url: str, model: str) -> EndpointCapabilities:
    with _LOCK:
        return _ENDPOINTS.setdefault((base_url.rstrip("/"), model), EndpointCapabilities())


def first_line(text: str) -> str:
    """A refusal's first line, short enough for the note on what was learnt from it."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 80 else line[:77] + "..."


def next_structured_mode(mode: str) -> str | None:
    index = STRUCTURED_MODES.index(mode) + 1
    return STRUCTURED_MODES[index] if index < len(STRUCTURED_MODES) else None


def mentions_response_format(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ("response_format", "json_schema", "json_object", "grammar"))


def schema_instruction(schema: dict[str, Any]) -> str:
    return "Answer with only a JSON value that matches this JSON schema, and no other text:\n" + json.dumps(
        schema, separators=(",", ":")
    )


def with_instruction(messages: list[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """The messages with `instruction` appended to the last user message (one system message is
    all some chat templates allow, so none is added)."""
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message['content']}\n\n{instruction}"
            return out
    return [*out, {"role": "user", "content": instruction}]


def repair_messages(messages: list[dict[str, Any]], answer: str, problem: str) -> list[dict[str, Any]]:
    """A follow-up that shows the model its invalid answer and asks for the corrected JSON."""
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {
            "role": "user",
            "content": f"That answer is not valid: {problem}. Reply with only the corrected JSON.",
        },
    ]

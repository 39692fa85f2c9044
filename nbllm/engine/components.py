"""What the engine generates from: components that format themselves and parse the answer.

A CBlock is a plain text block, a Chat a list of messages; a Job (nbllm.generators) is a
richer component. The engine only calls ``format_for_llm`` and ``parse_output``.

Made and formatted where the request is built (the caller's thread, or the I/O loop for a
generator's calls); ``parse_output`` runs on the I/O loop.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any

from nbllm.core.messages import Input, Messages, to_messages
from nbllm.core.schema import OutputSchema, parse_json_answer

_ids = itertools.count(1)


class Component(ABC):
    """Base of everything the engine can generate from.

    ``parent_id`` names the component this one was made for (a grading prompt for the call
    whose answers it grades; an example's call for the prompt that wrote the example): the
    engine log's ``dag()`` links them."""

    output_schema: OutputSchema | None = None

    def __init__(self) -> None:
        self.component_id = next(_ids)
        self.parent_id: int | None = None

    def derived_from(self, parent: Component | None) -> Component:
        """Record that this component was made for `parent`; returns self."""
        self.parent_id = parent.component_id if parent is not None else None
        return self

    @abstractmethod
    def format_for_llm(self) -> Messages:
        """The chat messages this component sends to the model."""

    def parse_output(self, text: str) -> Any:
        """Turn the model's answer into this component's value (the text by default)."""
        if self.output_schema is not None:
            return parse_json_answer(text, self.output_schema)
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}#{self.component_id}"


class CBlock(Component):
    """A block of text, sent as one user message."""

    def __init__(self, text: str, output_schema: OutputSchema | None = None) -> None:
        super().__init__()
        self.messages = to_messages(text)
        self.text = text
        self.output_schema = output_schema

    def format_for_llm(self) -> Messages:
        return self.messages


class Chat(Component):
    """A conversation in OpenAI chat format."""

    def __init__(
        self,
        input: Input,
        system_prompt: str | None = None,
        output_schema: OutputSchema | None = None,
    ) -> None:
        super().__init__()
        self.messages = to_messages(input, system_prompt)
        self.output_schema = output_schema

    @classmethod
    def of_messages(cls, messages: Messages, output_schema: OutputSchema | None = None) -> Chat:
        """A Chat of messages that to_messages has already checked (not checked again)."""
        chat = cls.__new__(cls)
        Component.__init__(chat)
        chat.messages, chat.output_schema = messages, output_schema
        return chat

    def format_for_llm(self) -> Messages:
        return self.messages

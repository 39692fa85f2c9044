"""A reasoning model's thinking, kept apart from its answer.

Servers with a reasoning parser send the thinking in a field of its own (``reasoning`` or
``reasoning_content``); a server without one leaves it at the start of the answer as
``<think>…</think>``. `split_thinking` takes an answer apart; `ThinkingSplitter` does the same
for a stream, piece by piece, so the answer's pieces can be shown as they come and the
thinking's apart from them. Both follow one rule, so a streamed answer and a generated one
split alike: only a block that opens the text is thinking (a ``</think>`` with no opening tag,
left by a template that opened the block itself, stays in the answer: a server's reasoning
parser handles that case).

Pure: runs on whatever thread calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"


class ReasoningDelta(str):
    """A piece of a reasoning model's thinking, in a stream beside the answer's pieces (which
    are plain strings): ``llm.stream(q, thinking=True)`` yields both, a raw stream too."""

    __slots__ = ()


def split_thinking(text: str) -> tuple[str, str | None]:
    """``(answer, thinking)`` of a model's text: the thinking is a leading ``<think>`` block
    (None when there is none). A block cut before its end (the length ran out) is all
    thinking, with no answer."""
    splitter = ThinkingSplitter()
    answer, thinking = splitter.feed(text)
    rest_answer, rest_thinking = splitter.close()
    thinking += rest_thinking
    return answer + rest_answer, (thinking.strip() if splitter.found else None)


@dataclass
class ThinkingSplitter:
    """Splits a stream's text into answer and thinking as it comes.

    Text is held back only while it could still be the start of a tag, so an answer that
    has no thinking streams with at most a few characters' delay.
    """

    found: bool = False  # a thinking block was seen
    # start: nothing decided yet; think: inside a block; gap: after it; answer: the rest
    _state: str = "start"
    _held: str = ""

    def feed(self, piece: str) -> tuple[str, str]:
        """The answer and the thinking that `piece` completes (either may be empty)."""
        text = self._held + piece
        self._held = ""
        if self._state == "gap":  # the whitespace between the block and the answer is neither
            text = text.lstrip()
            if not text:
                return "", ""
            self._state = "answer"
        if self._state == "answer":
            return text, ""
        if self._state == "start":
            stripped = text.lstrip()
            if stripped.startswith(OPEN):
                self._state, self.found = "think", True
                text = stripped[len(OPEN) :]
            elif OPEN.startswith(stripped):  # could still become "<think>"
                self._held = text
                return "", ""
            else:
                self._state = "answer"
                return text, ""
        return self._inside(text)

    def close(self) -> tuple[str, str]:
        """What is left when the stream ends: a held start is the answer, the rest of an
        unclosed block is thinking."""
        held, self._held = self._held, ""
        return ("", held) if self._state == "think" else (held, "")

    def _inside(self, text: str) -> tuple[str, str]:
        at = text.find(CLOSE)
        if at >= 0:
            self._state = "gap"
            answer, _ = self.feed(text[at + len(CLOSE) :])
            return answer, text[:at]
        keep = _partial_tag(text, CLOSE)
        self._held = text[len(text) - keep :] if keep else ""
        return "", text[: len(text) - keep]


def _partial_tag(text: str, tag: str) -> int:
    """How many characters at the end of `text` could start `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0

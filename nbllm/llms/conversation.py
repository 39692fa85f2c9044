"""The chat an LLM holds: its messages, and the branches that replacing them left behind.

An object the LLM holds (``llm.conversation``), not a mixin: it knows nothing of how answers
are made, only what was said. Runs on the caller's thread (a ChatWidget's turn thread for
widget turns); assigning it notifies the LLM's observers once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

from nbllm.core.messages import to_messages
from nbllm.errors import InvalidInputError

Messages = list[dict[str, str]]


class Conversation:
    """Branches of one chat; the current one is ``messages`` (``llm.history``).

    Replacing the messages with a continuation of the current branch extends it; anything else
    (``llm.history = []``, another conversation) starts a new branch and keeps the old one, so a
    fork never loses what was said before it.
    """

    def __init__(self, messages: Sequence[Any] = (), on_change: Optional[Callable[[], None]] = None):
        self.branches: list[Messages] = [checked(messages)]
        self.current = 0
        self._on_change = on_change

    @property
    def messages(self) -> Messages:
        return self.branches[self.current]

    def replace(self, messages: Sequence[Any], new_branch: Optional[bool] = None) -> None:
        """Make `messages` the conversation: extend the branch, fork a new one (``new_branch``
        True, or None and not a continuation), or overwrite it in place (False)."""
        messages = checked(messages)
        now = self.messages
        if messages == now:
            return
        if new_branch is None:
            new_branch = bool(now) and messages[: len(now)] != now
        if new_branch:
            self.branches.append(messages)
            self.current = len(self.branches) - 1
        else:
            self.branches[self.current] = messages
        self._changed()

    def switch(self, index: int) -> None:
        """Continue from branch `index` (0 is the first)."""
        if not 0 <= index < len(self.branches):
            raise InvalidInputError(
                f"there is no branch {index}; this conversation has {len(self.branches)}."
            )
        if index != self.current:
            self.current = index
            self._changed()

    def turn(self, message: str, history: Any = None) -> Messages:
        """The messages one chat turn sends: the history, then `message` from the user.

        ``history`` (the BaseLLM interface's argument) replaces the conversation for this turn:
        chat messages, or a transcript as text (sent as context in a system message)."""
        if not isinstance(message, str) or not message.strip():
            raise InvalidInputError("chat message must be a non-empty string.")
        if history is None:
            before = list(self.messages)
        elif isinstance(history, str):
            before = (
                [{"role": "system", "content": f"The conversation so far:\n{history}"}]
                if history.strip()
                else []
            )
        else:
            before = [dict(m) for m in to_messages(list(history), None, "history")] if history else []
        return [*before, {"role": "user", "content": message}]

    def answered(self, sent: Messages, reply: str) -> None:
        """Record a turn's reply after the messages it answered."""
        self.replace([*sent, {"role": "assistant", "content": reply}])

    def to_dict(self) -> dict[str, Any]:
        return {"branches": self.branches, "current": self.current}

    def restore(self, data: dict[str, Any]) -> None:
        branches = [checked(b) for b in data.get("branches") or [[]]]
        current = data.get("current", 0)
        if not isinstance(current, int) or not 0 <= current < len(branches):
            raise InvalidInputError(f"conversation.current={current!r} names no branch.")
        self.branches, self.current = branches, current
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


def checked(messages: Any) -> Messages:
    """A history as a list of {"role", "content"} strings, or an error naming what is wrong."""
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise InvalidInputError(f"history must be a list of chat messages, not {type(messages).__name__}.")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in ("role", "content")):
            raise InvalidInputError(
                f"history[{i}] must be a dict with string 'role' and 'content' (got {m!r:.80})."
            )
        out.append({"role": m["role"], "content": m["content"]})
    return out

"""ChatWidget: a chat with streamed replies and an editable history that stays in sync with
``llm.history``. Editing an earlier turn forks the conversation and keeps the old branch; so
does a history assigned in code that does not continue the shown one (``llm.history = []``).

Built and clicked on the kernel's thread; each turn runs on "nbllm-chat" (the stream itself on
the I/O loop) and re-renders from there.
"""

from __future__ import annotations

import concurrent.futures
import html
import threading
from typing import Any

import ipywidgets as w

from nbllm.core.thinking import ReasoningDelta
from nbllm.notebook.display.html import RECORDED_BADGE
from nbllm.notebook.display.style import offline_style
from nbllm.notebook.widgets.textbox import TextBox

ROLE_COLOURS = {"user": "#2563eb", "assistant": "#059669", "system": "#6b7280"}


class ChatWidget(w.VBox):
    """Send messages, watch replies stream in, edit or delete any message, regenerate the
    last reply, and switch between conversation branches. Generation runs on nbllm's I/O
    loop and the chat's own thread, so the kernel stays free while a reply streams; what is
    sent meanwhile waits its turn, shown as queued. A reasoning model's thinking streams above
    its reply and folds once the answer starts; the history keeps the answer alone."""

    def __init__(self, llm: Any, **generate_options: Any) -> None:
        self.llm = llm
        self.options = generate_options
        self.transcript = w.VBox()
        self.message = TextBox(
            placeholder="Type a message: Enter sends, Shift+Enter starts a new line",
            submit_on_enter=True,
            layout=w.Layout(width="60%"),
        )
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.regenerate_button = w.Button(
            description="Regenerate last reply", icon="refresh", layout=w.Layout(width="auto")
        )
        self.branch = w.Dropdown(description="branch", layout=w.Layout(width="auto"))
        self.status = w.HTML()
        self._live: TextBox | None = None
        self._live_thinking = w.HTML(layout=w.Layout(width="60%"))
        self._thinking: dict[str, str] = {}  # a reply's thinking, by the reply's text
        self._queued: list[str] = []  # messages sent while a reply streams, waiting their turn
        self._lock = threading.Lock()
        self._drawing = threading.RLock()  # one drawing of the transcript at a time
        # Turns run one at a time, in order, on the chat's own thread: a message sent while a
        # reply streams waits for it, and the stream never holds nbllm's callback thread.
        self._turns = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-chat")
        self._pending = 0
        self._rendering = False
        super().__init__(
            [
                self.transcript,
                w.HBox([self.message, self.send_button], layout=w.Layout(align_items="flex-start")),
                w.HBox([self.regenerate_button, self.branch]),
                self.status,
            ]
        )
        self.add_class("nbllm-chat")
        offline_style(self)
        self.message.on_submit(self.send)
        self.send_button.on_click(lambda _: self.send())
        self.regenerate_button.on_click(lambda _: self.regenerate())
        self.branch.observe(self._switch_branch, names="index")
        self._unwatch = llm.observe(self._on_llm)
        self._refresh_branches()
        self.render()

    # -- actions: each one a turn, in the order they were asked for ----------------------------
    def send(self, text: str | None = None) -> concurrent.futures.Future[str]:
        """Send `text` (or the message box); returns a Future of its reply. Sent while a reply
        streams, it shows as queued and goes to the model once that reply is in the history."""
        text = self.message.value if text is None else text
        if not text.strip():
            future: concurrent.futures.Future[str] = concurrent.futures.Future()
            future.set_result("")
            return future
        # the message moves from the box to its queued row in one step: the row is added to the
        # transcript (not the whole transcript drawn again), then the box is emptied
        with self._drawing:
            with self._lock:
                self._queued.append(text)
            self.transcript.children = (*self.transcript.children, self._queued_row(text))
        self.message.value = ""
        return self._turn(self._send_turn, text)

    def regenerate(self) -> concurrent.futures.Future[str]:
        """Replace the last reply with a fresh sample."""
        return self._turn(self._regenerate_turn)

    def edit(self, index: int, content: str) -> concurrent.futures.Future[str | None]:
        """Edit message `index`. Editing an earlier turn forks a new branch from there (the old
        branch stays in ``branches``); an edited user message then gets a new reply (the
        Future's result; None when no reply was needed)."""
        return self._turn(self._edit_turn, index, content)

    def delete(self, index: int) -> concurrent.futures.Future[None]:
        """Delete message `index` (done at once when no reply is streaming)."""
        return self._turn(self._delete_turn, index)

    def _turn(self, fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
        with self._lock:
            self._pending += 1
            idle = self._pending == 1
        if idle and fn == self._delete_turn:  # nothing to wait for: the caller sees it done
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            try:
                future.set_result(self._finish_turn(fn, *args))
            except Exception as exc:
                future.set_exception(exc)
            return future
        self._show_busy()
        return self._turns.submit(self._finish_turn, fn, *args)

    def _finish_turn(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._pending -= 1
            self._show_busy()

    def _show_busy(self) -> None:
        with self._lock:
            busy, queued = self._pending > 0, len(self._queued)
        self.regenerate_button.disabled = busy
        if queued:
            self.status.value = f"<i>generating… {queued} message{'s' * (queued > 1)} queued</i>"

    # -- turns, on the chat's thread ----------------------------------------------------------
    def _send_turn(self, text: str) -> str:
        with self._lock:
            self._queued.remove(text)
        self._set_history([*self.llm.history, {"role": "user", "content": text}])
        return self._stream(fresh=False)

    def _regenerate_turn(self) -> str:
        history = list(self.llm.history)
        if history and history[-1]["role"] == "assistant":
            history.pop()
        self._set_history(history)
        return self._stream(fresh=True)

    def _edit_turn(self, index: int, content: str) -> str | None:
        history = [dict(m) for m in self.llm.history]
        if history[index]["content"] == content:
            return None
        earlier = index < len(history) - 1
        forked = [*history[:index], {**history[index], "content": content}]
        self._set_history(forked, new_branch=earlier)
        return self._stream(fresh=False) if forked[-1]["role"] == "user" else None

    def _delete_turn(self, index: int) -> None:
        history = list(self.llm.history)
        del history[index]
        self._set_history(history)

    def _stream(self, fresh: bool) -> str:
        conversation = list(self.llm.history)
        self._live = TextBox(disabled=True, follow=True, layout=w.Layout(width="60%"))
        self.render()
        self.status.value = "<i>generating…</i>"
        self._show_busy()
        pieces: list[str] = []
        thoughts: list[str] = []
        self._live_thinking.value = ""
        try:
            for delta in self.llm.stream(conversation, fresh=fresh, thinking=True, **self.options):
                if isinstance(delta, ReasoningDelta):
                    thoughts.append(delta)
                    self._live_thinking.value = _thinking_html("".join(thoughts), folded=False)
                    continue
                if thoughts and not pieces:  # the answer starts: the thinking folds away
                    self._live_thinking.value = _thinking_html("".join(thoughts), folded=True)
                pieces.append(delta)
                if self._live is not None:
                    self._live.value = "".join(pieces)
            reply = "".join(pieces)
            if thoughts:
                self._thinking[reply] = "".join(thoughts)
            self._live = None  # the reply becomes an ordinary, editable message
            self._set_history([*conversation, {"role": "assistant", "content": reply}])
            stats = self.llm.last_generation.stats if self.llm.last_generation else None
            self.status.value = (
                f"{stats.output_tokens} tokens"
                f"{f' ({stats.reasoning_tokens} thinking)' if stats.reasoning_tokens else ''}"
                f" · {stats.tokens_per_second:.0f} tok/s"
                f"{' · from the cache' if stats.cache_hit else ''}"
                f"{' · ' + RECORDED_BADGE if stats.recorded else ''}"
                if stats
                else ""
            )
            return reply
        except Exception as exc:
            self.status.value = (
                f"<span style='color:#b91c1c'>{type(exc).__name__}: {html.escape(str(exc))}</span>"
            )
            self._live = None
            self.render()
            raise
        finally:
            self._live = None

    # -- history and branches: kept by the LLM's conversation ----------------------------------
    @property
    def branches(self) -> list[list[dict[str, str]]]:
        return self.llm.conversation.branches

    def _set_history(self, history: list[dict[str, str]], new_branch: bool = False) -> None:
        self.llm.conversation.replace(history, new_branch=new_branch)  # the observer re-renders

    def _refresh_branches(self) -> None:
        self._rendering = True
        try:
            self.branch.options = [_branch_label(i, self.branches) for i in range(len(self.branches))]
            self.branch.index = self.llm.conversation.current
        finally:
            self._rendering = False

    def _switch_branch(self, change: dict[str, Any]) -> None:
        if not self._rendering and change["new"] is not None:
            self.llm.conversation.switch(change["new"])

    def _on_llm(self, name: str, value: Any) -> None:
        if name == "history":
            self._refresh_branches()
            self.render()

    # -- view -----------------------------------------------------------------------------------
    def render(self) -> None:
        with self._drawing:
            self._draw()

    def _draw(self) -> None:
        rows = []
        for index, message in enumerate(self.llm.history):
            box = TextBox(value=message["content"], layout=w.Layout(width="60%"))
            button = {"layout": w.Layout(width="auto", flex="0 0 auto")}
            save = w.Button(description="save edit", disabled=True, **button)
            remove = w.Button(description="delete", **button)
            marker = w.HTML(layout=w.Layout(width="110px", flex="0 0 110px"))  # room kept: no shift
            box.observe(
                lambda change, s=save, m=marker, old=message["content"]: _mark(change["new"] != old, s, m),
                names="value",
            )
            save.on_click(lambda _, i=index, b=box: self.edit(i, b.value))
            remove.on_click(lambda _, i=index: self.delete(i))
            thinking = self._thinking.get(message["content"]) if message["role"] == "assistant" else None
            if thinking:
                rows.append(self._row("", w.HTML(_thinking_html(thinking, folded=True))))
            rows.append(self._row(message["role"], box, save, remove, marker))
        if self._live is not None:
            if self._live_thinking.value:
                rows.append(self._row("", self._live_thinking))
            rows.append(self._row("assistant", self._live))
        with self._lock:
            queued = list(self._queued)
        rows.extend(self._queued_row(text) for text in queued)
        self.transcript.children = tuple(rows)

    def _queued_row(self, text: str) -> w.HBox:
        box = TextBox(value=text, disabled=True, layout=w.Layout(width="60%"))
        tag = w.HTML(
            "<i class='nbllm-queued' style='color:#6b7280'>queued: sent after this reply</i>",
            layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        return self._row("user", box, tag)

    @staticmethod
    def _row(role: str, box: w.Widget, *extras: w.Widget) -> w.HBox:
        """A message's row, laid out alike whatever it holds: the role, the message box at a
        fixed share of the width, then its buttons and marks in the space left (they wrap
        there rather than squeeze the box or move its left edge)."""
        label = w.HTML(
            f"<b style='color:{ROLE_COLOURS.get(role, '#111')}'>{html.escape(role)}</b>",
            layout=w.Layout(width="80px", flex="0 0 80px"),
        )
        box.layout.flex = "0 0 60%"
        actions = w.HBox(list(extras), layout=w.Layout(flex="1 1 0", min_width="0", flex_flow="row wrap"))
        return w.HBox([label, box, actions], layout=w.Layout(width="100%"))

    def close(self) -> None:
        self._unwatch()
        self._turns.shutdown(wait=False, cancel_futures=True)
        super().close()


def _branch_label(index: int, branches: list[list[dict[str, str]]]) -> str:
    """A branch named by what it holds: the words where it leaves the first branch (the first
    words of its first message, for the first branch), and its length."""
    branch = branches[index]
    first = branches[0]
    at = next((i for i, m in enumerate(branch) if i >= len(first) or m != first[i]), None)
    if index == 0 or at is None:
        at = next((i for i, m in enumerate(branch) if m["role"] == "user"), 0)
    words = branch[at]["content"].split() if branch else []
    start = 0
    if index and at < len(first):  # an edited message: from a little before the first new word
        old = first[at]["content"].split()
        same = next((i for i, (a, b) in enumerate(zip(words, old)) if a != b), min(len(words), len(old)))
        start = max(0, same - 2)
    said = (
        ("…" if start else "") + " ".join(words[start : start + 5]) + ("…" if len(words) > start + 5 else "")
    )
    count = f"{len(branch)} message{'s' * (len(branch) != 1)}"
    return f"{index + 1}: “{said}” · {count}" if said else f"{index + 1}: empty"


def _thinking_html(thinking: str, folded: bool) -> str:
    """A reply's thinking: open while it streams, folded once the answer starts."""
    return (
        f"<details class='nbllm-thinking'{'' if folded else ' open'} style='color:#6b7280;font-size:12px'>"
        f"<summary>thinking</summary><div style='white-space:pre-wrap'>{html.escape(thinking)}</div></details>"
    )


def _mark(unsaved: bool, save: w.Button, marker: w.HTML) -> None:
    """Show that a message box holds an edit that is not saved yet."""
    save.disabled = not unsaved
    save.button_style = "warning" if unsaved else ""
    marker.value = (
        "<span class='nbllm-unsaved' style='color:#b45309'>● unsaved edit</span>" if unsaved else ""
    )

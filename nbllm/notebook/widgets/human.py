"""HumanVerification: a person picks the winner for MajorVoteGenerator(mode="human").

Built and clicked on the kernel's thread; ``callback`` runs on nbllm-callbacks and returns a
Future that the click resolves.
"""

from __future__ import annotations

import concurrent.futures
import html
from typing import Any

import ipywidgets as w

from nbllm.notebook.display.style import offline_style


class HumanVerification(w.VBox):
    """Shows the candidates of one vote at a time; the person picks one and clicks Choose.

    Pass ``widget.callback`` as ``human_callback`` and start the generator with ``submit`` (a
    cell that waits would keep the kernel from receiving the click)."""

    def __init__(self) -> None:
        self.prompt = w.HTML("<i>waiting for candidates…</i>")
        self.choices = w.RadioButtons(options=[], layout=w.Layout(width="100%"))
        self.choose = w.Button(description="Choose", button_style="success", disabled=True)
        super().__init__([self.prompt, self.choices, self.choose])
        offline_style(self)
        self._pending: concurrent.futures.Future[int] | None = None
        self.choose.on_click(lambda _: self.pick(self.choices.index))

    def callback(self, candidates: list[Any], input: Any) -> concurrent.futures.Future[int]:
        """Called by the generator (on nbllm's callback thread); resolves when the person chooses."""
        self._pending = concurrent.futures.Future()
        self.prompt.value = f"<b>Input:</b> {html.escape(f'{input!s:.300}')} — which answer is right?"
        self.choices.options = [f"{i + 1}. {c.text}" for i, c in enumerate(candidates)]
        self.choices.index = 0
        self.choose.disabled = False
        return self._pending

    def pick(self, index: int | None) -> None:
        """Choose candidate `index` (what the button does; callable from code and tests)."""
        pending, self._pending = self._pending, None
        if pending is None or index is None:
            return
        self.choose.disabled = True
        self.prompt.value = f"<i>chose answer {index + 1}</i>"
        if not pending.done():
            pending.set_result(index)

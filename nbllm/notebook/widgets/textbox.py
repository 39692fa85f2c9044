"""TextBox: a text area that grows with its text, and can send on Enter (Shift+Enter: new line).

ipywidgets' Textarea has a fixed height and no key events, so a chat's reply disappears below
two lines and Enter can only insert a newline. This small anywidget does both in the browser.

Built on the kernel's thread, where Enter's callbacks run too; its value may be set from any
thread (a chat's stream sets it from "nbllm-chat").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const area = document.createElement("textarea");
  area.className = "nbllm-textbox";
  area.rows = 1;
  // JupyterLab must not take Enter / Shift+Enter typed here as "run cell".
  area.setAttribute("data-lm-suppress-shortcuts", "true");
  Object.assign(area.style, {
    width: "100%", boxSizing: "border-box", resize: "vertical", overflowY: "auto",
    font: "inherit", lineHeight: "1.4", padding: "4px 6px", minHeight: "2.2em",
  });
  const grow = () => {
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight + 2, model.get("max_height")) + "px";
    if (model.get("follow")) area.scrollTop = area.scrollHeight;
  };
  const fromModel = () => {
    if (area.value !== model.get("value")) area.value = model.get("value");
    area.placeholder = model.get("placeholder");
    area.disabled = model.get("disabled");
    grow();
  };
  const changed = () => {
    model.set("value", area.value);
    model.save_changes();
    grow();
  };
  area.addEventListener("input", () => changed());
  area.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    // The notebook around us takes Enter keys for itself: handle both here.
    event.stopPropagation();
    event.preventDefault();
    if (!event.shiftKey && model.get("submit_on_enter")) {
      const text = area.value;
      area.value = "";  // sent: the box is cleared here, at once, as in any chat
      changed();
      model.send({ event: "submit", text });
    } else {
      area.setRangeText("\\n", area.selectionStart, area.selectionEnd, "end");
      changed();
    }
  });
  model.on("change:value", fromModel);
  model.on("change:disabled", fromModel);
  model.on("change:placeholder", fromModel);
  el.style.width = "100%";
  el.appendChild(area);
  fromModel();
  requestAnimationFrame(grow);
}
export default { render };
"""


class TextBox(anywidget.AnyWidget):
    """A growing text area; with ``submit_on_enter`` Enter calls the ``on_submit`` callbacks
    and Shift+Enter inserts a new line. ``follow`` keeps the end of a long text in view."""

    _esm = _ESM
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    submit_on_enter = traitlets.Bool(False).tag(sync=True)
    follow = traitlets.Bool(False).tag(sync=True)
    max_height = traitlets.Int(360).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._submit: list[Callable[[str], Any]] = []
        self.on_msg(self._handle)

    def on_submit(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(text)`` when the user presses Enter (needs ``submit_on_enter``)."""
        self._submit.append(callback)

    def submit(self, text: str | None = None) -> None:
        """What pressing Enter does (`text` defaults to the box's value)."""
        for callback in self._submit:
            callback(self.value if text is None else text)

    def _handle(self, _: Any, content: dict[str, Any], buffers: Any) -> None:
        if content.get("event") == "submit":  # the browser has already cleared its box
            self.submit(content.get("text", ""))

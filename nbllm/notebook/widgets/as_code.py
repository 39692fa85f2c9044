"""Copy as code: the code that makes a widget again as it is on screen (its LLM, its prompt and
only the settings the user set), and the button that puts that code in a new cell below the
widget, or shows it in a box to copy where the front end cannot add a cell (Voilà, a page saved
with its widgets, JupyterLab without nbllm's extension).

Built on the kernel's thread, where the code is rewritten whenever the widget changes; the
button itself works in the browser alone, so it needs no kernel round trip.
"""

from __future__ import annotations

import json
import math
from typing import Any

import anywidget
import traitlets

from nbllm.notebook.compare.saved_runs import SECRET, public_identity

WIDTH = 88  # the lessons' line length: a copied cell reads as the lessons do

_ESM = """
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button nbllm-copy-code";
  button.textContent = "Copy as code";
  button.title = "a new cell below with the code that makes this again";
  const box = document.createElement("div");
  box.className = "nbllm-code-box";
  Object.assign(box.style, { display: "none", minWidth: "440px", marginTop: "4px" });
  const area = document.createElement("textarea");
  area.readOnly = true;
  area.setAttribute("data-lm-suppress-shortcuts", "true");
  Object.assign(area.style, {
    width: "100%", boxSizing: "border-box", fontFamily: "monospace", fontSize: "12px",
  });
  const copy = document.createElement("button");
  copy.className = "jupyter-button";
  copy.textContent = "Copy";
  const note = document.createElement("span");
  note.className = "nbllm-code-note";
  note.style.marginLeft = "8px";
  box.append(area, copy, note);
  const show = () => {
    area.value = model.get("code");
    area.rows = Math.min(area.value.split("\\n").length + 1, 16);
    box.style.display = "block";
  };
  button.addEventListener("click", () => {
    // nbllm's JupyterLab extension inserts the cell and says so; anywhere else the box shows.
    const detail = { code: model.get("code"), inserted: false };
    button.dispatchEvent(new CustomEvent("nbllm-insert-cell", { detail, bubbles: true }));
    if (detail.inserted) {
      Object.assign(box.style, { display: "none", minWidth: "440px", marginTop: "4px" });
      note.textContent = "";
    } else {
      show();
      area.select();
    }
  });
  copy.addEventListener("click", async () => {
    area.select();
    try {
      await navigator.clipboard.writeText(area.value);
      note.textContent = "copied";
    } catch (error) {
      note.textContent = "press Ctrl+C (Cmd+C) to copy";
    }
  });
  model.on("change:code", () => { if (box.style.display !== "none") show(); });
  el.append(button, box);
}
export default { render };
"""


class CopyAsCode(anywidget.AnyWidget):
    """A "Copy as code" button holding the widget's code (kept current by its owner)."""

    _esm = _ESM
    code = traitlets.Unicode("").tag(sync=True)


def literal(value: Any) -> str:
    """A Python literal for a setting's value (strings with double quotes, as ruff writes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    return repr(value)


def call(name: str, args: list[str], kwargs: dict[str, Any]) -> str:
    """`name(args, k=v, ...)` on one line when it fits, else one argument per line."""
    parts = [*args, *(f"{k}={literal(v)}" for k, v in kwargs.items())]
    line = f"{name}({', '.join(parts)})"
    if len(line) <= WIDTH and "\n" not in line:
        return line
    return f"{name}(\n" + "".join(f"    {part},\n" for part in parts) + ")"


def llm_lines(llm: Any) -> list[str]:
    """Lines that make `llm` again: its class, the settings it was given that differ from the
    defaults, and its generation parameters. A key is never written, only where it comes from."""
    cls = type(llm)
    if not cls.__module__.startswith("nbllm.llms.") or not hasattr(llm, "model_dump"):
        return [f"llm = ...  # a {cls.__name__}: make it as you made this one"]
    excluded = {"params", "prompt_formatting_fn", *getattr(llm, "checkpoint_exclude", ())}
    settings = {
        k: v
        for k, v in llm.model_dump(exclude_defaults=True, exclude=excluded).items()
        if not SECRET.search(k)
    }
    settings = public_identity(settings)  # a base URL's user, password and query are never written
    settings.update(llm.params.set_values())
    lines = []
    if getattr(llm, "api_key", None) is not None:
        lines.append("# api_key is not written here: pass it again, e.g. api_key=os.environ[...]")
    if settings.get("base_url") != getattr(llm, "base_url", None):
        lines.append("# the base URL's user and password (and query) are not written here: add them again")
    if getattr(llm, "budget", None) is not None:
        lines.append("# this LLM had a budget: set it again with budget=nbllm.Budget(...)")
    return [*lines, call(f"llm = nbllm.{cls.__name__}", [], settings)]


def widget_code(
    llm: Any, widget: str, name: str, args: list[str], kwargs: dict[str, Any], after: tuple[str, ...] = ()
) -> str:
    """A cell that imports nbllm, makes the LLM and shows the widget (the cell's last line)."""
    lines = ["import nbllm", "", *llm_lines(llm), call(f"{name} = nbllm.{widget}", ["llm", *args], kwargs)]
    return "\n".join([*lines, *after, name])

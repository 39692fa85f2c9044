"""The arena's view in the browser: the pair, its vote buttons and keys, and its reveal.

Rendered by anywidget in the page; its traits are set by Arena on the kernel's thread, and its
messages (a vote, "next") arrive on the kernel's thread.
"""

from __future__ import annotations

import anywidget
import traitlets

LABELS = {"A": "A is better (a)", "B": "B is better (b)", "tie": "Tie (t)", "both_bad": "Both bad (x)"}
_VIEW_ESM = """
function render({ model, el }) {
  // JupyterLab must not take a / b / t / x / n typed anywhere in the arena as notebook commands.
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  const prompt = document.createElement("div");
  const row = document.createElement("div");
  Object.assign(row.style, { display: "flex", gap: "8px" });
  const answers = [0, 1].map(() => {
    const box = document.createElement("div");
    box.className = "nbllm-answer";
    Object.assign(box.style, { padding: "6px", whiteSpace: "pre-wrap", width: "50%",
                               border: "2px solid transparent", borderRadius: "4px" });
    row.appendChild(box);
    return box;
  });
  const bar = document.createElement("div");
  Object.assign(bar.style, { display: "flex", gap: "6px", flexWrap: "wrap", marginTop: "6px" });
  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.className = "jupyter-button widget-button " + cls;
    b.textContent = text;
    b.addEventListener("click", () => { onClick(); keys.focus(); });  // keys keep working after a click
    bar.appendChild(b);
    return b;
  }
  const buttons = Object.entries(model.get("labels")).map(([c, text]) => button(text, "nbllm-vote", () => send(c)));
  const skip = button("Skip this pair", "nbllm-skip", () => send("A"));  // a pair without two answers
  const next = button("Next pair (n)", "nbllm-next", () => model.send({ next: model.get("round") }));
  const keys = document.createElement("div");
  keys.tabIndex = 0;
  keys.setAttribute("role", "button");
  keys.className = "nbllm-arena-keys";
  Object.assign(keys.style, { padding: "4px 8px", border: "1px dashed #9ca3af", borderRadius: "4px",
                              color: "#4b5563", cursor: "pointer", outline: "none", fontSize: "12px",
                              marginTop: "4px" });
  function keysText() {
    const on = document.activeElement === keys;
    keys.textContent = model.get("revealed").length
      ? (on ? "Keys on: press n for the next pair" : "Click here, then press n for the next pair")
      : (on ? "Keys on: press a, b, t or x to vote" : "Click here, then press a, b, t or x to vote");
    keys.style.border = on ? "2px solid #2563eb" : "1px dashed #9ca3af";
    keys.style.color = on ? "#1e3a8a" : "#4b5563";
  }
  keys.addEventListener("focus", keysText);
  keys.addEventListener("blur", keysText);
  const shortcuts = { a: "A", b: "B", t: "tie", x: "both_bad" };
  let sent = -1;  // one vote per round: a double click or a held key cannot vote on the next pair
  function send(choice) {
    const round = model.get("round");
    if (sent === round || model.get("revealed").length) return;
    sent = round;
    buttons.forEach((b) => { b.disabled = true; });
    model.send({ vote: choice, round });
  }
  el.addEventListener("keydown", (event) => {
    if (event.target.tagName === "BUTTON" && (event.key === "Enter" || event.key === " ")) return;
    const key = event.key.toLowerCase();
    const revealed = model.get("revealed").length > 0;
    if (!(key in shortcuts) && !(revealed && (key === "n" || key === "enter"))) return;
    event.stopPropagation();
    event.preventDefault();
    if (event.repeat) return;
    if (revealed) { if (key === "n" || key === "enter") model.send({ next: model.get("round") }); }
    else send(shortcuts[key]);
  });
  function show() {
    const revealed = model.get("revealed");
    prompt.replaceChildren();
    const label = document.createElement("b");
    label.textContent = "Prompt: ";
    prompt.append(label, model.get("prompt"));
    model.get("answers").forEach((text, i) => {
      const side = document.createElement("b");
      side.className = "nbllm-side";
      side.textContent = revealed.length ? "AB"[i] + " was " + revealed[i] : "AB"[i];
      answers[i].replaceChildren(side, document.createElement("br"), text);
      const chosen = revealed.length && ["AB"[i], "tie"].includes(model.get("said"));
      answers[i].style.borderColor = chosen ? "#16a34a" : "transparent";
    });
    const voting = !revealed.length && model.get("votable");
    buttons.forEach((b) => { b.style.display = voting ? "" : "none"; b.disabled = sent === model.get("round"); });
    skip.style.display = !revealed.length && !model.get("votable") ? "" : "none";
    next.style.display = revealed.length ? "" : "none";
    keysText();
  }
  model.on("change", show);  // the pair, its round and its reveal arrive in one message
  show();
  el.append(prompt, row, bar, keys);
}
export default { render };
"""


class ArenaView(anywidget.AnyWidget):
    """The pair on screen and its vote buttons (and the keys a, b, t and x; n for the next pair).
    The prompt, the two answers, their round and their reveal arrive in the browser in one
    message, so every vote carries the round of the pair the voter saw, and the browser sends
    one vote per round."""

    _esm = _VIEW_ESM
    labels = traitlets.Dict(LABELS).tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    answers = traitlets.List(traitlets.Unicode(), ["", ""]).tag(sync=True)
    round = traitlets.Int(0).tag(sync=True)
    votable = traitlets.Bool(True).tag(sync=True)  # False: a contender gave no answer
    revealed = traitlets.List(traitlets.Unicode(), []).tag(sync=True)  # names of A and B, once decided
    said = traitlets.Unicode("").tag(sync=True)  # the vote on the pair revealed

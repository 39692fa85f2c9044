"""TokenView: the token tree's browser side (an anywidget): the tokens coloured by probability,
the selected token's alternatives with pick buttons, and the branches to walk.

Its traits are set by TokenTree (the kernel's thread or the "nbllm-tokentree" thread); its
messages (a pick, a branch to show) arrive on the kernel's thread.
"""

from __future__ import annotations

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nbllm-tokentree";
  const text = document.createElement("div");
  text.className = "nbllm-tt-text";
  const alts = document.createElement("div");
  alts.className = "nbllm-tt-alternatives";
  const tree = document.createElement("div");
  tree.className = "nbllm-tt-branches";
  const status = document.createElement("div");
  status.className = "nbllm-tt-status";
  root.append(status, text, alts, tree);
  el.appendChild(root);
  const colour = (p) => `hsl(${Math.round(120 * p)}, 75%, ${Math.round(88 - 10 * p)}%)`;
  const pct = (p) => (100 * p).toFixed(p < 0.1 ? 1 : 0) + "%";
  const shown = (t) => t.replace(/\\n/g, "\\u21b5\\n") || "[end]";
  // keys typed on a token (Enter, arrows) are the widget's, not JupyterLab's commands
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  function draw() {
    const focused = document.activeElement && text.contains(document.activeElement)
      ? document.activeElement.dataset.index : null;
    const selected = model.get("selected");
    const busy = model.get("busy");
    status.textContent = model.get("status");
    text.replaceChildren(...model.get("tokens").map((token, i) => {
      const span = document.createElement("span");
      span.className = "nbllm-token" + (i === selected ? " nbllm-selected" : "");
      span.textContent = shown(token.t);
      span.dataset.index = i;
      span.tabIndex = i === Math.max(selected, 0) ? 0 : -1;  // one tab stop; arrows move along
      span.setAttribute("role", "button");
      span.setAttribute("aria-pressed", i === selected ? "true" : "false");
      span.setAttribute("aria-label", `token #${i}: ${JSON.stringify(token.t)}, ${pct(token.p)}`);
      span.title = `token #${i}, ${pct(token.p)}: click to see what else the model could have written here`;
      span.style.background = colour(token.p);
      const choose = () => { model.set("selected", i); model.save_changes(); };
      span.addEventListener("click", choose);
      span.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(); }
        else if (step) {
          event.preventDefault();
          const next = text.querySelector(`[data-index="${i + step}"]`);
          if (next) { next.tabIndex = 0; span.tabIndex = -1; next.focus(); }
        } else return;
        event.stopPropagation();
      });
      return span;
    }));
    if (focused !== null) {  // redrawn after a key: the focus stays on its token
      const again = text.querySelector(`[data-index="${focused}"]`);
      if (again) { again.tabIndex = 0; again.focus(); }
    }
    alts.replaceChildren();
    const rows = model.get("alternatives");
    // a token just clicked shows its alternatives once the kernel sent them, never another's
    if (selected >= 0 && rows.length && model.get("alternatives_at") === selected) {
      const head = document.createElement("div");
      head.className = "nbllm-tt-head";
      head.textContent = `Token #${selected}: what the model could have written there` +
        (model.get("exact") ? "" : " (sampler probabilities approximate: only these tokens are known)");
      const table = document.createElement("table");
      table.className = "nbllm-tt-table";
      table.innerHTML = "<thead><tr><th>token</th><th>model</th><th>with these settings</th><th></th></tr></thead>";
      const body = document.createElement("tbody");
      rows.forEach((row) => {
        const tr = document.createElement("tr");
        tr.className = (row.allowed ? "nbllm-allowed" : "nbllm-cut") + (row.current ? " nbllm-current" : "");
        const token = document.createElement("td");
        token.className = "nbllm-alt-token";
        token.textContent = JSON.stringify(row.t);
        const p = document.createElement("td");
        const bar = document.createElement("span");
        bar.className = "nbllm-tt-bar";
        bar.style.width = Math.max(1, Math.round(120 * row.p)) + "px";
        p.append(bar, " " + pct(row.p));
        const q = document.createElement("td");
        q.textContent = row.allowed ? pct(row.q) : "cut";
        const act = document.createElement("td");
        const button = document.createElement("button");
        button.className = "jupyter-button widget-button nbllm-pick";
        button.textContent = row.current ? "written" : (row.explored ? "go to branch" : "pick");
        button.disabled = row.current || busy;
        const shownBranch = (model.get("branches").find((b) => b.current) || {}).id;
        button.addEventListener("click", () => model.send({ pick: row.t, at: selected, branch: shownBranch }));
        act.appendChild(button);
        tr.append(token, p, q, act);
        body.appendChild(tr);
      });
      table.appendChild(body);
      alts.append(head, table);
    }
    tree.replaceChildren(...model.get("branches").map((branch) => {
      const button = document.createElement("button");
      button.className = "nbllm-branch" + (branch.current ? " nbllm-current" : "");
      button.textContent = branch.label;
      button.style.marginLeft = (16 * branch.depth) + "px";
      button.disabled = busy;
      button.addEventListener("click", () => model.send({ go: branch.id }));
      return button;
    }));
  }
  model.on("change", draw);
  draw();
}
export default { render };
"""

_CSS = """
.nbllm-tokentree { font-size: 13px; }
.nbllm-tt-text { white-space: pre-wrap; line-height: 1.9em; margin: 6px 0; }
.nbllm-token { cursor: pointer; border-radius: 3px; padding: 1px 0; margin-right: 1px; }
.nbllm-token.nbllm-selected { outline: 2px solid #1d4ed8; }
.nbllm-token:focus-visible { outline: 2px dashed #1d4ed8; outline-offset: 1px; }
.nbllm-tt-head { color: #374151; margin: 4px 0; }
.nbllm-tt-table td, .nbllm-tt-table th { padding: 2px 8px; text-align: left; }
.nbllm-tt-table .nbllm-cut { color: #9ca3af; }
.nbllm-tt-table .nbllm-current { font-weight: 600; }
.nbllm-tt-bar { display: inline-block; height: 9px; background: #60a5fa; vertical-align: middle; }
.nbllm-tt-branches { display: flex; flex-direction: column; align-items: flex-start; gap: 2px; margin-top: 6px; }
.nbllm-branch { border: 1px solid #d1d5db; background: #f9fafb; border-radius: 3px; cursor: pointer; }
.nbllm-branch.nbllm-current { border-color: #1d4ed8; font-weight: 600; }
.nbllm-tt-status { color: #4b5563; font-style: italic; min-height: 1.2em; }
"""


class TokenView(anywidget.AnyWidget):
    """The browser side: the tokens, the selected token's alternatives, the branches."""

    _esm = _ESM
    _css = _CSS
    tokens = traitlets.List([]).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    alternatives = traitlets.List([]).tag(sync=True)
    alternatives_at = traitlets.Int(-1).tag(sync=True)  # the token the alternatives are of
    exact = traitlets.Bool(True).tag(sync=True)
    branches = traitlets.List([]).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

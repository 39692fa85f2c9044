"""How nbllm's widgets look in a saved notebook reopened without their kernel, and one rule
for every nbllm slider: its track keeps its width when its readout shows or hides, so the
sliders of a panel line up whatever has been touched.

JupyterLab restores saved widgets and marks every one of them disconnected with a red
broken-link icon: a chat shows about twenty over its labels. Inside an nbllm widget those
icons are hidden and the widget says once, in words, that running its cell brings it back.
The rule travels inside the widget's own saved state (an HTML child holding a <style>), so
it applies where no kernel has run any code yet.

Runs on the kernel's thread, as a widget is built.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

CSS = """
.nbllm-widget .jupyter-widgets-disconnected::before { content: none; display: none; }
.nbllm-widget .widget-hslider .slider-container { flex: 0 0 230px; }
.nbllm-widget .nbllm-one-line, .nbllm-widget .nbllm-one-line * { white-space: nowrap; }
.nbllm-widget.jupyter-widgets-disconnected::before {
  content: "Saved view: run this cell to use the widget again.";
  display: block; font: italic 12px/1.4 var(--jp-ui-font-family, sans-serif);
  color: var(--jp-ui-font-color2, #6b7280); padding: 2px 0 6px;
}
"""


def offline_style(box: Any) -> Any:
    """Mark `box` as an nbllm widget and give it the style above; returns it."""
    box.add_class("nbllm-widget")
    box.children = (*box.children, w.HTML(f"<style>{CSS}</style>", layout=w.Layout(display="none")))
    return box

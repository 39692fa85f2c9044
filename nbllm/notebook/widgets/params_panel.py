"""ParamsPanel: sliders bound live to an LLM's generation parameters.

Built and moved on the kernel's thread; it follows the bound parameters on whichever thread
assigns them.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from nbllm.notebook.display.style import offline_style
from nbllm.notebook.widgets.as_code import CopyAsCode, call, widget_code

SLIDERS = ("temperature", "top_p", "max_tokens")
# Where a slider rests while its parameter is unset (the OpenAI API's own defaults for the
# first two); its readout is hidden then, so nothing claims these are the model's values.
RESTING = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 256}

SLIDER = {
    "continuous_update": False,
    "style": {"description_width": "90px"},
    "layout": w.Layout(width="420px"),
}


class ParamsPanel(w.VBox):
    """Temperature, top_p, max_tokens and a seed, two-way bound to a GenerationParams; for a
    reasoning model a reasoning_effort dropdown of the values it takes, and its sampling sliders
    disabled with the reason (it refuses them: see ``llm.parameter_support()``).

    By default that is ``llm.params``: moving a slider sets that one parameter for the LLM's
    next calls, and nothing else; a parameter never touched stays unset and shows as "model
    default" (with its value where the backend says it), and "reset" unsets it again. Pass
    ``params=`` to edit another set (the Playground keeps its own, so its sliders never change
    what ``llm.generate`` does elsewhere). A slider never sends a request (``continuous_update``
    is off and only a Run button generates); changing the bound parameters in code moves the
    sliders.
    """

    def __init__(self, llm: Any, params: Any = None, copy_button: bool = True, **layout: Any) -> None:
        self.llm = llm
        self._own = params
        self.copy = CopyAsCode()
        self.temperature = w.FloatSlider(min=0.0, max=2.0, step=0.05, description="temperature", **SLIDER)
        self.top_p = w.FloatSlider(min=0.01, max=1.0, step=0.01, description="top_p", **SLIDER)
        self.max_tokens = w.IntSlider(min=1, max=1024, step=1, description="max_tokens", **SLIDER)
        self.notes = {name: w.HTML(layout=w.Layout(width="auto")) for name in SLIDERS}
        for note in self.notes.values():
            note.add_class("nbllm-one-line")
        self.resets = {
            name: w.Button(description="reset", tooltip=f"unset {name}: the model's default applies",
                           layout=w.Layout(width="auto"))
            for name in SLIDERS
        }  # fmt: skip
        self.fixed_seed = w.Checkbox(description="fixed seed", indent=False)
        self.seed = w.BoundedIntText(min=0, max=2**32 - 1, description="seed", disabled=True)
        self.reasoning_effort = w.Dropdown(
            description="reasoning_effort",
            style={"description_width": "120px"},
            layout=w.Layout(width="300px"),
        )
        self.effort_row = w.HBox([self.reasoning_effort])
        rows = [w.HBox([getattr(self, n), self.notes[n], self.resets[n]]) for n in SLIDERS]
        seed_row = [self.fixed_seed, self.seed, *([self.copy] if copy_button else [])]
        self._rows = (*rows, w.HBox(seed_row))  # the effort row goes after the sliders where it applies
        super().__init__(self._rows, **layout)
        offline_style(self)
        self._syncing = False
        self.pull()
        for name in SLIDERS:
            getattr(self, name).observe(lambda change, n=name: self._push(n, change["new"]), names="value")
            self.resets[name].on_click(lambda _, n=name: self._push(n, None))
        self.reasoning_effort.observe(lambda change: self._push_effort(change["new"]), names="value")
        self.fixed_seed.observe(lambda _: self._push_seed(), names="value")
        self.seed.observe(lambda _: self._push_seed(), names="value")
        if params is None:
            self._unwatch = llm.observe(self._on_llm)
        else:
            self._unwatch = params.observe(lambda *_: self._on_llm("params", params))

    @property
    def bound(self) -> Any:
        """The GenerationParams the sliders edit."""
        return self._own if self._own is not None else self.llm.params

    def pull(self) -> None:
        """Show the bound values; an unset one as "model default" (with the backend's value
        where it has one)."""
        defaults = self.llm.default_params()
        support = self.llm.parameter_support(self.bound.set_values())
        self._syncing = True
        try:
            self._pull_effort(support.efforts)
            for name in SLIDERS:
                slider, value = getattr(self, name), getattr(self.bound, name)
                default = defaults.get(name)
                shown = value if value is not None else default if default is not None else RESTING[name]
                slider.value = min(max(shown, slider.min), slider.max)
                slider.readout = value is not None
                refused = support.refused.get(name)
                slider.disabled = refused is not None and value is None
                if refused is not None:
                    note = f"<i>not taken by {html.escape(self.llm.model_name)}: {html.escape(refused)}</i>"
                elif value is not None:
                    note = ""
                else:
                    note = f"<i>model default{f' ({default:g})' if default is not None else ''}</i>"
                self.notes[name].value = note
                self.resets[name].layout.visibility = "visible" if value is not None else "hidden"
            self.copy.code = self.as_code()
            seed = self.bound.seed
            self.fixed_seed.value = seed is not None
            self.seed.disabled = seed is None
            if seed is not None:
                self.seed.value = seed
        finally:
            self._syncing = False

    def as_code(self) -> str:
        """The code that makes this panel again: the LLM, and the parameters set on it (or on
        the GenerationParams the panel edits)."""
        if self._own is None:
            return widget_code(self.llm, "ParamsPanel", "panel", [], {})
        params = call("nbllm.GenerationParams", [], self._own.set_values())
        return widget_code(self.llm, "ParamsPanel", "panel", [f"params={params}"], {})

    def _push(self, name: str, value: Any) -> None:
        """Set (or with None, unset) one parameter: the one the user moved."""
        if self._syncing:
            return
        setattr(self.bound, name, value)
        self.pull()

    def _pull_effort(self, efforts: tuple[str, ...] | None) -> None:
        """The effort dropdown, with the model's values, where it has them (else not on the page)."""
        shown = self._rows if efforts is None else (*self._rows[:-1], self.effort_row, self._rows[-1])
        if tuple(self.children) != shown:
            self.children = shown
        if efforts is None:
            return
        self.reasoning_effort.options = [("model default", None), *((e, e) for e in efforts)]
        current = self.bound.reasoning_effort
        self.reasoning_effort.value = current if current in efforts else None

    def _push_effort(self, value: str | None) -> None:
        if self._syncing:
            return
        self.bound.reasoning_effort = value
        self.pull()

    def _push_seed(self) -> None:
        if self._syncing:
            return
        self.seed.disabled = not self.fixed_seed.value
        self.bound.seed = self.seed.value if self.fixed_seed.value else None
        self.pull()

    def _on_llm(self, name: str, _: Any) -> None:
        if name == "params" and not self._syncing:
            self.pull()

    def close(self) -> None:
        self._unwatch()
        super().close()

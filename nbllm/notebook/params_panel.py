"""ParamsPanel: sliders bound live to an LLM's generation parameters."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

FALLBACKS = {"temperature": 0.8, "top_p": 0.95, "max_tokens": 256}


SLIDER = {
    "continuous_update": False,
    "style": {"description_width": "90px"},
    "layout": w.Layout(width="420px"),
}


class ParamsPanel(w.VBox):
    """Temperature, top_p, max_tokens and a seed, two-way bound to a GenerationParams.

    By default that is ``llm.params``: moving a slider changes the parameters of the LLM's
    next call. Pass ``params=`` to edit another set (the Playground keeps its own, so its
    sliders never change what ``llm.generate`` does elsewhere). A slider never sends a request
    (``continuous_update`` is off and only a Run button generates); changing the bound
    parameters in code moves the sliders.
    """

    def __init__(self, llm: Any, params: Any = None, **layout: Any) -> None:
        self.llm = llm
        self._own = params
        self.temperature = w.FloatSlider(min=0.0, max=2.0, step=0.05, description="temperature", **SLIDER)
        self.top_p = w.FloatSlider(min=0.01, max=1.0, step=0.01, description="top_p", **SLIDER)
        self.max_tokens = w.IntSlider(min=1, max=1024, step=1, description="max_tokens", **SLIDER)
        self.fixed_seed = w.Checkbox(description="fixed seed", indent=False)
        self.seed = w.BoundedIntText(min=0, max=2**32 - 1, description="seed", disabled=True)
        super().__init__(
            [self.temperature, self.top_p, self.max_tokens, w.HBox([self.fixed_seed, self.seed])], **layout
        )
        self._syncing = False
        self.pull()
        for slider in (self.temperature, self.top_p, self.max_tokens, self.seed, self.fixed_seed):
            slider.observe(self._push, names="value")
        if params is None:
            self._unwatch = llm.observe(self._on_llm)
        else:
            self._unwatch = params.observe(lambda *_: self._on_llm("params", params))

    @property
    def bound(self) -> Any:
        """The GenerationParams the sliders edit."""
        return self._own if self._own is not None else self.llm.params

    def pull(self) -> None:
        """Show the bound values (else the backend's defaults)."""
        effective = {**FALLBACKS, **self.llm.default_params(), **self.bound.set_values()}
        self._syncing = True
        try:
            self.temperature.value = effective["temperature"]
            self.top_p.value = max(effective["top_p"], 0.01)
            self.max_tokens.value = min(int(effective["max_tokens"]), self.max_tokens.max)
            seed = self.bound.seed
            self.fixed_seed.value = seed is not None
            self.seed.disabled = seed is None
            if seed is not None:
                self.seed.value = seed
        finally:
            self._syncing = False

    def _push(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.seed.disabled = not self.fixed_seed.value
            self.bound.update(
                temperature=self.temperature.value,
                top_p=self.top_p.value,
                max_tokens=self.max_tokens.value,
                seed=self.seed.value if self.fixed_seed.value else None,
            )
        finally:
            self._syncing = False

    def _on_llm(self, name: str, _: Any) -> None:
        if name == "params" and not self._syncing:
            self.pull()

    def close(self) -> None:
        self._unwatch()
        super().close()

"""TemperatureExplorer: the embedded model's real next-token distribution, reshaped live by
temperature and top_p sliders exactly as its sampler reshapes it, with samples drawn from it.

Built, and its sliders handled, on the kernel's thread (a new prompt waits there for the
model's logprobs).
"""

from __future__ import annotations

import html
import random
from typing import Any

import ipywidgets as w

from nbllm.core.sampling import sampling_distribution
from nbllm.notebook.display.plots import figure_image, plot_distribution, replace_output
from nbllm.notebook.display.style import offline_style

SAMPLES = 20


def sampling_sliders(temperature: float = 1.0, top_p: float = 1.0) -> tuple[w.FloatSlider, w.FloatSlider]:
    """The temperature and top_p sliders of the teaching widgets (a value only on release)."""
    slider = {
        "continuous_update": False,
        "style": {"description_width": "90px"},
        "layout": w.Layout(width="380px"),
    }
    return (
        w.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05, description="temperature", **slider),
        w.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.05, description="top_p", **slider),
    )


class TemperatureExplorer(w.VBox):
    """Sliders for temperature and top_p over the model's next-token distribution for a prompt.

    The distribution comes from the model once, over its whole vocabulary
    (``next_token_logprobs``); moving a slider recomputes what the engine's sampler would draw
    from: llama.cpp's chain (top_k, top_p, min_p on the model's own probabilities, then
    temperature), with the LLM's top_k and min_p. The chart shows the `top_n` most likely
    tokens and the rest as one bar, the model's probability beside the sampler's; each
    update draws fresh samples. Exploring costs no generation."""

    def __init__(self, llm: Any, prompt: str, answer_prefix: str = "", top_n: int = 12) -> None:
        self.llm = llm
        self.top_n = top_n
        self.settings = llm.sampler_settings()  # top_k and min_p as the engine applies them
        self.tokens_logprobs = llm.next_token_logprobs(prompt, answer_prefix, top_n=None)
        self.temperature, self.top_p = sampling_sliders()
        text = {"style": {"description_width": "90px"}, "layout": w.Layout(width="760px")}
        self.prompt = w.Text(value=prompt, description="prompt", continuous_update=False, **text)
        self.answer_prefix = w.Text(
            value=answer_prefix, description="answer starts", continuous_update=False, **text
        )
        self.samples = w.HTML()
        self.chart = w.Output()
        super().__init__(
            [
                self.prompt,
                self.answer_prefix,
                w.HBox([self.temperature, self.top_p]),
                self.chart,
                self.samples,
            ]
        )
        offline_style(self)
        self._rng = random.Random()  # fresh draws on every update, never the same twenty
        self.temperature.observe(lambda _: self.update(), names="value")
        self.top_p.observe(lambda _: self.update(), names="value")
        self.prompt.observe(lambda _: self.ask(), names="value")
        self.answer_prefix.observe(lambda _: self.ask(), names="value")
        self.update()

    def ask(self) -> None:
        """Ask the model again for the edited prompt (one forward pass, no generation)."""
        self.tokens_logprobs = self.llm.next_token_logprobs(
            self.prompt.value, self.answer_prefix.value, top_n=None
        )
        self.update()

    @property
    def probabilities(self) -> list[float]:
        """What the sampler draws from at the current slider values, over the whole vocabulary
        (in the order of ``tokens_logprobs``: most likely first)."""
        return sampling_distribution(
            [lp for _, lp in self.tokens_logprobs],
            self.temperature.value,
            self.top_p.value,
            top_k=int(self.settings.get("top_k") or 0),
            min_p=float(self.settings.get("min_p") or 0.0),
        )

    def update(self) -> None:
        import math

        probabilities = self.probabilities
        tokens = [t for t, _ in self.tokens_logprobs]
        model = [math.exp(lp) for _, lp in self.tokens_logprobs]
        title = f"temperature={self.temperature.value:.2f}, top_p={self.top_p.value:.2f}"
        figure = plot_distribution(tokens, probabilities, title=title, model=model, top_n=self.top_n)
        replace_output(self.chart, figure_image(figure))
        draws = self._rng.choices(range(len(tokens)), weights=probabilities, k=SAMPLES)
        kept = sum(1 for p in probabilities if p > 0)
        visible = sum(1 for p in probabilities if p >= 0.01)
        k, m = self.settings.get("top_k") or 0, self.settings.get("min_p") or 0.0
        chain = f"top_k={k}, top_p={self.top_p.value:.2f}, min_p={m:g}, then temperature"
        if visible == kept:
            shown = "all of them with 1% or more" if kept > 1 else "with 1% or more"
        else:
            shown = f"<b>{visible}</b> of them with 1% or more, the other {kept - visible} too little to show as a bar"
        self.samples.value = (
            f"The sampler ({html.escape(chain)}) keeps <b>{kept}</b> token{'s' * (kept != 1)}, {shown}. "
            f"{SAMPLES} fresh samples: "
            + " ".join(f"<code>{html.escape(repr(tokens[i]))}</code>" for i in draws)
        )

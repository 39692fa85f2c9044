"""TemperatureExplorer: the embedded model's real next-token distribution, reshaped live by
temperature and top_p sliders, with samples drawn from it."""

from __future__ import annotations

import random
from typing import Any

import ipywidgets as w

from nbllm.core.sampling import sampling_distribution
from nbllm.notebook.plots import figure_image, plot_distribution
from nbllm.notebook.style import offline_style


class TemperatureExplorer(w.VBox):
    """Sliders for temperature and top_p over the model's top next tokens for a prompt.

    The distribution comes from the model once (``next_token_logprobs``); moving a slider only
    recomputes what a sampler would draw from, so exploring costs no generation."""

    def __init__(self, llm: Any, prompt: str, answer_prefix: str = "", top_n: int = 12) -> None:
        self.llm = llm
        self.top_n = top_n
        self.tokens_logprobs = llm.next_token_logprobs(prompt, answer_prefix, top_n=top_n)
        slider = {
            "continuous_update": False,
            "style": {"description_width": "90px"},
            "layout": w.Layout(width="380px"),
        }
        self.temperature = w.FloatSlider(
            value=1.0, min=0.0, max=2.0, step=0.05, description="temperature", **slider
        )
        self.top_p = w.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top_p", **slider)
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
        self.temperature.observe(lambda _: self.update(), names="value")
        self.top_p.observe(lambda _: self.update(), names="value")
        self.prompt.observe(lambda _: self.ask(), names="value")
        self.answer_prefix.observe(lambda _: self.ask(), names="value")
        self.update()

    def ask(self) -> None:
        """Ask the model again for the edited prompt (one forward pass, no generation)."""
        self.tokens_logprobs = self.llm.next_token_logprobs(
            self.prompt.value, self.answer_prefix.value, top_n=self.top_n
        )
        self.update()

    @property
    def probabilities(self) -> list[float]:
        """What a sampler draws from at the current slider values (over the top tokens)."""
        return sampling_distribution(
            [lp for _, lp in self.tokens_logprobs], self.temperature.value, self.top_p.value
        )

    def update(self) -> None:
        probabilities = self.probabilities
        tokens = [t for t, _ in self.tokens_logprobs]
        title = f"temperature={self.temperature.value:.2f}, top_p={self.top_p.value:.2f}"
        self.chart.outputs = ()
        self.chart.append_display_data(figure_image(plot_distribution(tokens, probabilities, title=title)))
        rng = random.Random(0)
        draws = rng.choices(tokens, weights=probabilities, k=20)
        kept = sum(1 for p in probabilities if p > 0)
        self.samples.value = (
            f"<b>{kept}</b> of the top {len(tokens)} tokens can be drawn · 20 samples: "
        ) + " ".join(f"<code>{t!r}</code>" for t in draws)

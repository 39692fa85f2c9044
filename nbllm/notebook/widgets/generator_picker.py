"""GeneratorPicker: a dropdown of the registered generators, with their descriptions.

Built, and its dropdown handled, on the kernel's thread.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from nbllm.generators import JobSettings, get_generator, list_generators
from nbllm.generators.jobs import Job
from nbllm.notebook.display.style import offline_style


class GeneratorPicker(w.VBox):
    """Pick a generator by name; ``build(job, llm, runs)`` makes the chosen one."""

    def __init__(self, value: str = "Generator") -> None:
        self.descriptions = list_generators()
        self.dropdown = w.Dropdown(options=list(self.descriptions), value=value, description="generator")
        # Room for the longest description, so choosing another never moves what is below.
        self.help = w.HTML(layout=w.Layout(min_height="4.5em"))
        super().__init__([self.dropdown, self.help])
        offline_style(self)
        self.dropdown.observe(lambda _: self._describe(), names="value")
        self._describe()

    @property
    def value(self) -> str:
        return self.dropdown.value

    @value.setter
    def value(self, name: str) -> None:
        self.dropdown.value = name

    def _describe(self) -> None:
        self.help.value = f"<i>{html.escape(self.descriptions[self.dropdown.value])}</i>"

    def build(self, job: Job, llm: Any, runs: int = 1, **options: Any) -> Any:
        """The selected generator for `job` on `llm`, `runs` being its runs, votes or variants."""
        cls = get_generator(self.value)
        if self.value in ("MajorVoteGenerator", "ExampleGenerator"):
            return cls(job, llm, num_votes=max(runs, 1), **options)
        if self.value == "MultiThreadingAsyncGenerator":
            settings = [JobSettings(name=f"t={t}", params={"temperature": t}) for t in (0.2, 1.0)]
            return cls(job, llm, job_settings=settings, num_runs=runs, **options)
        if self.value == "Generator":
            return cls(job, llm, **options)
        return cls(job, llm, num_runs=runs, **options)

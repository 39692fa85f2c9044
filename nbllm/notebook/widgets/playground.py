"""Playground: prompt box, parameters, generator dropdown, Run, results table and plot.

Built and clicked on the kernel's thread; Run hands the work to the I/O loop, and progress and
results are shown from nbllm-callbacks.
"""

from __future__ import annotations

import concurrent.futures
import html
import time
from typing import Any

import ipywidgets as w
from IPython.display import HTML

from nbllm.core.params import GenerationParams
from nbllm.engine import callbacks
from nbllm.errors import NBLLMError
from nbllm.generators.jobs import Job
from nbllm.notebook.display.html import results_html
from nbllm.notebook.display.plots import figure_image, plot_tokens, replace_output
from nbllm.notebook.display.style import offline_style
from nbllm.notebook.widgets.as_code import CopyAsCode, literal, widget_code
from nbllm.notebook.widgets.cost import start_run
from nbllm.notebook.widgets.generator_picker import GeneratorPicker
from nbllm.notebook.widgets.params_panel import ParamsPanel

PROMPT = "What is the capital of France? Answer in one sentence."
INSTRUCTION = "Answer briefly."


class Playground(w.VBox):
    """Everything at once. Prompts are separated by lines of ``---``; Run hands the work to
    nbllm's I/O loop and fills the table and the plot when it is done, so the kernel stays
    free meanwhile. ``results`` holds the last results (``nbllm.to_dataframe(pg.results)``).
    ``instruction``, ``generator``, ``runs`` and generation parameters set where it starts;
    "Copy as code" writes them for what is on screen."""

    def __init__(
        self,
        llm: Any = None,
        prompt: str = PROMPT,
        *,
        instruction: str = INSTRUCTION,
        generator: str = "Generator",
        runs: int = 3,
        **params: Any,
    ) -> None:
        from nbllm.llms.default import default_llm

        self.llm = llm if llm is not None else default_llm()
        self.instruction = w.Text(value=instruction, description="instruction", layout=w.Layout(width="70%"))
        self.prompt = w.Textarea(
            value=prompt, description="prompts", layout=w.Layout(width="70%", height="90px")
        )
        # The playground's own parameters: its sliders never change what llm.generate does
        # elsewhere, until "Apply to llm" copies them over.
        self.generation_params = GenerationParams(**{**self.llm.params.set_values(), **params})
        self.params = ParamsPanel(self.llm, params=self.generation_params, copy_button=False)
        self.picker = GeneratorPicker(generator)
        # three, not two: two votes that disagree are a tie every time
        self.runs = w.BoundedIntText(value=runs, min=1, max=32, description="runs/votes")
        self.copy = CopyAsCode()
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.apply_button = w.Button(
            description="Apply to llm", tooltip="use these parameters for llm.generate too"
        )
        self.apply_button.on_click(lambda _: self.apply())
        self.picker.dropdown.observe(lambda _: self._show_runs(), names="value")
        self.status = w.HTML(layout=w.Layout(min_height="3em"))
        self.estimate = w.HTML(layout=w.Layout(min_height="3em"))  # the next Run's cost and time
        self._estimator = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-estimate")
        self._asked = 0  # estimates asked for; only the newest is shown
        self._started = 0.0  # when the last Run began
        self.llm.engine  # noqa: B018 - made here, on the kernel's thread, not first by the estimate thread
        self.stale = w.HTML(layout=w.Layout(min_height="1.5em"))
        self.table = w.Output()
        self.plot = w.Output()
        self.results: Any = None
        super().__init__(
            [
                self.instruction,
                self.prompt,
                w.HBox(
                    [
                        w.VBox([self.params, w.HBox([self.apply_button, self.copy])]),
                        w.VBox(
                            [self.picker, self.runs, w.HBox([self.run_button]), self.status],
                            layout=w.Layout(width="360px", min_height="190px"),
                        ),
                    ]
                ),
                self.estimate,
                self.stale,
                self.table,
                self.plot,
            ]
        )
        self.add_class("nbllm-playground")
        offline_style(self)
        self.run_button.on_click(lambda _: self.run())
        self._show_runs()
        for widget in (self.prompt, self.instruction, self.runs, self.picker.dropdown):
            widget.observe(lambda _: self._changed(), names="value")
        self.generation_params.observe(lambda *_: self._changed())
        self._changed()

    def _changed(self) -> None:
        self.copy.code = self.as_code()
        self.refresh_estimate()

    def as_code(self) -> str:
        """The code that makes this playground again: its LLM, prompts, and only the settings
        changed from the defaults (the parameters set here that the LLM does not have)."""
        on_llm = self.llm.params.set_values()
        settings: dict[str, Any] = {}
        if self.instruction.value != INSTRUCTION:
            settings["instruction"] = self.instruction.value
        if self.picker.value != "Generator":
            settings.update(generator=self.picker.value, runs=self.runs.value)
        params = self.generation_params.set_values()
        settings.update({k: v for k, v in params.items() if on_llm.get(k) != v})
        dropped = sorted(k for k in on_llm if k not in params)
        after = (f"playground.generation_params.update({', '.join(f'{k}=None' for k in dropped)})",)
        return widget_code(self.llm, "Playground", "playground", [literal(self.prompt.value)], settings,
                           after if dropped else ())  # fmt: skip

    def apply(self) -> None:
        """Copy the playground's parameters to ``llm.params``."""
        self.llm.params.update(
            **{k: getattr(self.generation_params, k) for k in ("temperature", "top_p", "max_tokens", "seed")}
        )

    def _show_runs(self) -> None:
        """Runs/votes means something for every generator but the plain one: hide it there."""
        self.runs.layout.visibility = "hidden" if self.picker.value == "Generator" else "visible"

    def inputs(self) -> list[str]:
        return [p.strip() for p in self.prompt.value.split("\n---\n") if p.strip()]

    def estimated(self) -> Any:
        """What the next Run would send, cost and take (a RunEstimate)."""
        from nbllm.notebook.compare.estimate import estimate_run, requests_per_input

        name = self.picker.value
        params = self.generation_params.set_values()
        if name == "ExampleGenerator":  # one writer's `runs` examples, then `runs` votes on each
            runs = self.runs.value
            return estimate_run(self.llm, [self.instruction.value or "Answer."], 1, params, runs * (1 + runs))
        job = Job(instruction=self.instruction.value or "Answer.", template="{input}")
        per_input = (
            1
            if name == "Generator"
            else requests_per_input(self.picker.build(job, self.llm, self.runs.value))
        )
        return estimate_run(self.llm, self._messages(), 1, params, per_input)

    def _messages(self) -> list[Any]:
        instruction = self.instruction.value or "Answer."
        return [
            [{"role": "system", "content": instruction}, {"role": "user", "content": p}]
            for p in self.inputs()
        ]

    def refresh_estimate(self) -> None:
        """Recount the next Run's estimate in the background (the embedded model's tokenizer
        answers over HTTP; the kernel does not wait for it). Only the newest count is shown,
        and none while a Run is going."""
        self._asked += 1
        asked = self._asked

        def count() -> None:
            if asked != self._asked:
                return  # a newer change is queued: count that one
            try:
                line = f"<i>next run: {html.escape(self.estimated().describe())}</i>"
            except Exception as exc:  # an estimate never stops the playground
                line = f"<i>next run: no estimate ({html.escape(type(exc).__name__)}: {html.escape(str(exc))})</i>"
            if asked == self._asked and not self.run_button.disabled:
                self.estimate.value = line

        self._estimator.submit(count)

    def run(self) -> concurrent.futures.Future[Any]:
        """What the Run button does; returns a Future of the results. A run whose estimated
        cost would cross the LLM's budget is refused before anything is sent."""
        from nbllm.notebook.compare.estimate import check_budget

        job = Job(instruction=self.instruction.value or "Answer.", template="{input}")
        started = self._started = time.monotonic()
        name = self.picker.value
        try:
            estimate = self.estimated()
            check_budget([estimate])
        except NBLLMError as exc:
            self.status.value = (
                f"<span style='color:#b91c1c'>{type(exc).__name__}: {html.escape(str(exc))}</span>"
            )
            refused: concurrent.futures.Future[Any] = concurrent.futures.Future()
            refused.set_exception(exc)
            return refused
        self.estimate.value = f"<i>this run: {html.escape(estimate.describe())}</i>"

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            self.status.value = (
                f"<i>running {html.escape(name)}: {done} of {total} done · {elapsed:.1f} s</i>"
            )

        generator = self.picker.build(job, self.llm, self.runs.value, progress_callback=progress)
        start_run(self.llm)  # a CostMeter's "this run" counts from this Run
        self.run_button.disabled = True
        self.status.value = f"<i>running {html.escape(name)}…</i>"
        if self.results is not None:  # the previous results stay visible, marked as stale
            self.stale.value = (
                "<i style='color:#92400e'>The table and plot below are from the previous run.</i>"
            )
        inputs = self.runs.value if name == "ExampleGenerator" else self.inputs()
        future = generator.submit(inputs, **self.generation_params.set_values())
        future.add_done_callback(lambda done: callbacks.notify(self._show, done, what="playground"))
        return future

    def _show(self, future: concurrent.futures.Future[Any]) -> None:
        # Runs on nbllm's callback thread: Output widgets are fed with append_* (a `with out:`
        # block from another thread would lose the output).
        self.stale.value = ""
        try:
            self.results = future.result()
        except Exception as exc:
            self.table.outputs = self.plot.outputs = ()
            self.status.value = (
                f"<span style='color:#b91c1c'>{type(exc).__name__}: {html.escape(str(exc))}</span>"
            )
        else:
            replace_output(self.table, HTML(results_html(self.results)))
            replace_output(self.plot, figure_image(plot_tokens(self.results)))
            used = ", ".join(f"{k}={v}" for k, v in self.generation_params.set_values().items())
            took = f" · took {time.monotonic() - self._started:.1f} s" if self._started else ""
            self.status.value = f"done: {html.escape(f'{self.picker.value} ({used}){took}')}"
        finally:
            self.run_button.disabled = False
            self.refresh_estimate()  # the next run's time, now measured on this one

"""An exercise's widget: the task and its rules, a prompt box, the settings the exercise lets a
student change, a Check button, and each seeded answer of the last attempt marked pass or fail,
with the hints unlocked so far and every attempt's verdict.

Built and clicked on the kernel's thread; a check runs on the "nbllm-exercise" thread and its
marks are shown from nbllm-callbacks (widget values may be set from any thread).
"""

from __future__ import annotations

import concurrent.futures
import html
from typing import Any

import ipywidgets as w

from nbllm.engine import callbacks
from nbllm.errors import NBLLMError
from nbllm.notebook.display.style import offline_style
from nbllm.notebook.widgets.params_panel import RESTING, SLIDER

# (min, max, step) of each setting's slider; "stop" is a text box.
RANGES: dict[str, tuple[float, float, float]] = {
    "temperature": (0.0, 2.0, 0.05),
    "top_p": (0.01, 1.0, 0.01),
    "min_p": (0.0, 1.0, 0.01),
    "top_k": (0, 200, 1),
    "max_tokens": (1, 512, 1),
    "frequency_penalty": (-2.0, 2.0, 0.05),
    "presence_penalty": (-2.0, 2.0, 0.05),
    "repetition_penalty": (0.5, 2.0, 0.05),
}
INTEGER = ("top_k", "max_tokens")
CSS = """
.nbllm-exercise .nbllm-marks { border-collapse: collapse; margin: 4px 0; }
.nbllm-exercise .nbllm-marks td, .nbllm-exercise .nbllm-marks th {
  border-bottom: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; vertical-align: top; }
.nbllm-exercise .nbllm-marks td.nbllm-answer { white-space: pre-wrap; max-width: 640px; }
.nbllm-exercise .nbllm-pass .nbllm-mark { color: #15803d; font-weight: bold; }
.nbllm-exercise .nbllm-fail .nbllm-mark { color: #b91c1c; font-weight: bold; }
.nbllm-exercise .nbllm-hint { background: #fef9c3; border-left: 3px solid #ca8a04; padding: 4px 8px;
  margin: 4px 0; }
"""


class ExerciseView(w.VBox):
    """What ``Exercise`` shows: type a prompt, set what the exercise allows, press Check."""

    def __init__(self, exercise: Any) -> None:
        self.exercise = exercise
        self.task = w.HTML(_task_html(exercise))
        self.prompt = w.Textarea(
            placeholder="Write your prompt here, then press Check.",
            description="prompt",
            layout=w.Layout(width="70%", height="90px"),
        )
        self.settings = {name: _control(name, exercise) for name in exercise.editable}
        self._starts = {name: control.value for name, control in self.settings.items()}
        self.check_button = w.Button(description="Check", button_style="primary", icon="check")
        self.check_button.on_click(lambda _: self.check())
        self.status = w.HTML(layout=w.Layout(min_height="1.5em"))
        self.status.add_class("nbllm-status")
        self.marks = w.HTML()
        self.hints = w.HTML()
        self.history = w.HTML()
        super().__init__(
            [
                w.HTML(f"<style>{CSS}</style>", layout=w.Layout(display="none")),
                self.task,
                self.prompt,
                *self.settings.values(),
                w.HBox([self.check_button, self.status]),
                self.marks,
                self.hints,
                self.history,
            ]
        )
        self.add_class("nbllm-exercise")
        offline_style(self)
        self._unwatch = exercise.on_attempt(lambda attempt: self.show())
        self.show()

    def chosen(self) -> dict[str, Any]:
        """The settings the student has moved from where they started (an untouched one is not
        sent, so the exercise's or the model's own value applies; "stop" left empty neither)."""
        return {name: (control.value or None) if name == "stop" else control.value
                for name, control in self.settings.items() if control.value != self._starts[name]}  # fmt: skip

    def check(self) -> concurrent.futures.Future[Any]:
        """What the Check button does; returns the future of the attempt. Bad input is shown at
        once and sends nothing."""
        try:
            future = self.exercise.submit(self.prompt.value, **self.chosen())
        except NBLLMError as exc:
            self.status.value = f"<span style='color:#b91c1c'>{html.escape(str(exc))}</span>"
            refused: concurrent.futures.Future[Any] = concurrent.futures.Future()
            refused.set_exception(exc)
            return refused
        self.check_button.disabled = True
        self.status.value = f"<i>checking {self.exercise.samples} answers…</i>"
        future.add_done_callback(lambda done: callbacks.notify(self._done, done, what="exercise"))
        return future

    def _done(self, future: concurrent.futures.Future[Any]) -> None:
        try:
            future.result()
        except Exception as exc:
            self.status.value = (
                f"<span style='color:#b91c1c'>{type(exc).__name__}: {html.escape(str(exc))}</span>"
            )
        else:
            self.status.value = ""
        finally:
            self.check_button.disabled = False

    def show(self) -> None:
        """Show the last attempt's marks, the hints unlocked so far and every attempt's verdict."""
        attempts = list(self.exercise.attempts)
        if not attempts:
            self.marks.value = self.hints.value = self.history.value = ""
            return
        self.marks.value = _marks_html(attempts[-1])
        shown = self.exercise.hints_shown() if not attempts[-1].passed else []
        self.hints.value = "".join(
            f"<div class='nbllm-hint'><b>Hint {i}:</b> {html.escape(h)}</div>" for i, h in enumerate(shown, 1)
        )
        verdicts = " · ".join(f"{i} {'✓' if a.passed else '✗'}" for i, a in enumerate(attempts, 1))
        done = " Exercise passed." if self.exercise.passed else ""
        self.history.value = f"<i class='nbllm-attempts'>Attempts: {verdicts}.{done}</i>"

    def close(self) -> None:
        self._unwatch()
        super().close()


def _task_html(exercise: Any) -> str:
    fixed = ", ".join(f"{k}={v}" for k, v in exercise.options.items())
    last = exercise.seed + exercise.samples - 1
    return (
        f"<div class='nbllm-task'><b>Task:</b> {html.escape(exercise.task)}</div>"
        f"<div class='nbllm-rules'><i>Passes when at least {exercise.need} of {exercise.samples} answers "
        f"pass the check ({html.escape(exercise.scorer.describe)}). Answers use seeds "
        f"{exercise.seed}–{last}: the same prompt and settings always get the same answers"
        + (f"; fixed settings: {html.escape(fixed)}" if fixed else "")
        + ".</i></div>"
    )


def _marks_html(attempt: Any) -> str:
    rows = []
    for sample in attempt.samples:
        if sample.error:
            mark, answer = "⚠ no mark", f"<i>{html.escape(sample.error)}</i>"
            if sample.answer is not None:
                answer = f"{html.escape(sample.answer)}<br>{answer}"
        else:
            mark = f"{'✓ pass' if sample.passed else '✗ fail'} ({sample.mark:g})"
            answer = html.escape(sample.answer or "")
        rows.append(
            f"<tr class='{'nbllm-pass' if sample.passed else 'nbllm-fail'}'><td>{sample.index + 1}</td>"
            f"<td>{sample.seed}</td><td class='nbllm-answer'>{answer}</td><td class='nbllm-mark'>{mark}</td></tr>"
        )
    verdict = "Passed" if attempt.passed else "Not yet"
    return (
        f"<div class='nbllm-verdict {'nbllm-passed' if attempt.passed else 'nbllm-failed'}'>"
        f"<b>{verdict}:</b> {html.escape(attempt.describe())}.</div>"
        "<table class='nbllm-marks'><thead><tr><th>#</th><th>seed</th><th>answer</th><th>mark</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _control(name: str, exercise: Any) -> Any:
    """A slider for a number setting (a text box for "stop"), starting at the exercise's fixed
    value, else the model's default, else where the playground's sliders rest."""
    if name == "stop":
        return w.Text(
            value=str(exercise.options.get("stop") or ""), description="stop", style=SLIDER["style"]
        )
    low, high, step = RANGES[name]
    try:
        default = exercise.llm.default_params().get(name)
    except Exception:  # a backend that cannot say: the slider's resting place
        default = None
    start = exercise.options.get(name, default if default is not None else RESTING.get(name, low))
    high = max(high, start)
    kind = w.IntSlider if name in INTEGER else w.FloatSlider
    return kind(value=start, min=low, max=high, step=step, description=name, **SLIDER)

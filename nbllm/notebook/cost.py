"""CostMeter: tokens and estimated cost per run and in total, with an optional budget."""

from __future__ import annotations

import html
import weakref
from typing import Any

import ipywidgets as w

from nbllm.engine.budget import Budget

_METERS: weakref.WeakSet[CostMeter] = weakref.WeakSet()


def start_run(llm: Any) -> None:
    """Start a new run on every CostMeter of `llm` (the Playground's Run button does)."""
    for meter in list(_METERS):
        if meter.llm is llm:
            meter.start_run()


class CostMeter(w.HTML):
    """Shows tokens and, given prices per token, the estimated cost of the last run and in
    total. A run starts with each notebook cell that is executed and with each Run of the
    Playground; ``start_run()`` starts one by hand. With ``max_cost`` the LLM stops sending
    requests that could exceed it: their rows record BudgetExceededError and the rest of the
    batch is kept."""

    def __init__(
        self,
        llm: Any,
        price_per_input_token: float = 0.0,
        price_per_output_token: float = 0.0,
        max_cost: float | None = None,
        currency: str = "$",
    ) -> None:
        super().__init__()
        self.llm = llm
        self.currency = currency
        llm.budget = Budget(price_per_input_token, price_per_output_token, max_cost)
        self.budget = llm.budget
        self._run_start = (0, 0)
        llm.engine.listeners.append(lambda _: self.refresh())
        _on_each_cell(self.start_run)
        _METERS.add(self)
        self.refresh()

    def start_run(self) -> None:
        """Begin a new run: the "this run" figures count from here."""
        self._run_start = (self.budget.input_tokens, self.budget.output_tokens)
        self.refresh()

    @property
    def run_tokens(self) -> tuple[int, int]:
        return self.budget.input_tokens - self._run_start[0], self.budget.output_tokens - self._run_start[1]

    def refresh(self) -> None:
        b, c = self.budget, self.currency
        run_in, run_out = self.run_tokens
        left = "" if b.max_cost is None else f" · budget left {c}{max(b.max_cost - b.cost, 0):.4f}"
        self.value = (
            f"<div style='font-size:13px'><b>this run</b>: {run_in} in / {run_out} out tokens · "
            f"{c}{b.cost_of(run_in, run_out):.4f} &nbsp;&nbsp; <b>total</b>: {b.input_tokens} in / "
            f"{b.output_tokens} out tokens in {b.requests} requests · {c}{b.cost:.4f}{html.escape(left)}</div>"
        )


def _on_each_cell(start_run: Any) -> None:
    """Call `start_run` before every cell IPython executes (nothing outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.events.register("pre_run_cell", lambda *_: start_run())

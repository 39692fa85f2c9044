"""CostMeter: tokens and estimated cost per run and in total, with an optional budget.

Built on the kernel's thread; refreshed there before each cell, and on nbllm-callbacks after
each generation (as an engine listener).
"""

from __future__ import annotations

import html
import math
import weakref
from typing import Any

import ipywidgets as w

from nbllm.engine.budget import Budget
from nbllm.notebook.display.style import CSS

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
    batch is kept.

    The meter shows the LLM's own budget: one set before (``llm.budget = Budget(...)``) keeps
    its ceiling and totals, and only the prices or ceiling given here change it. One meter
    per LLM: a new one (the cell run again) replaces the old, which stops counting."""

    def __init__(
        self,
        llm: Any,
        price_per_input_token: float | None = None,
        price_per_output_token: float | None = None,
        max_cost: float | None = None,
        currency: str = "$",
    ) -> None:
        super().__init__()
        self.add_class("nbllm-widget")
        self.llm = llm
        self.currency = currency
        if llm.budget is None:
            llm.budget = Budget()
        budget = llm.budget
        if price_per_input_token is not None:
            budget.price_per_input_token = price_per_input_token
        if price_per_output_token is not None:
            budget.price_per_output_token = price_per_output_token
        if max_cost is not None:
            budget.max_cost = max_cost
        self._run_start = (budget.input_tokens, budget.output_tokens)
        for old in [m for m in _METERS if m.llm is llm]:
            old.stop("replaced by a newer CostMeter for this LLM")
        self._listener = lambda _: self.refresh()
        llm.engine.listeners.append(self._listener)
        self._unhook = _on_each_cell(self.start_run)
        _METERS.add(self)
        self.refresh()

    @property
    def budget(self) -> Budget:
        return self.llm.budget

    def start_run(self) -> None:
        """Begin a new run: the "this run" figures count from here."""
        self._run_start = (self.budget.input_tokens, self.budget.output_tokens)
        self.refresh()

    def stop(self, why: str = "stopped") -> None:
        """Stop counting: no listener or cell hook stays behind."""
        _METERS.discard(self)
        if self._listener in self.llm.engine.listeners:
            self.llm.engine.listeners.remove(self._listener)
        self._unhook()
        self.value = f"<div style='font-size:13px;color:#6b7280'><i>CostMeter {html.escape(why)}.</i></div>"

    @property
    def run_tokens(self) -> tuple[int, int]:
        return self.budget.input_tokens - self._run_start[0], self.budget.output_tokens - self._run_start[1]

    def refresh(self) -> None:
        if self not in _METERS:
            return
        b, c = self.budget, html.escape(self.currency)
        run_in, run_out = self.run_tokens
        left = "" if b.max_cost is None else f" · budget left {c}{money(max(b.max_cost - b.cost, 0))}"
        requests = f"{b.requests} request{'' if b.requests == 1 else 's'}"
        thinking = f" ({b.reasoning_tokens} of them thinking)" if b.reasoning_tokens else ""
        self.value = (
            f"<div style='font-size:13px'><b>this run</b>: {run_in} in / {run_out} out tokens · "
            f"{c}{money(b.cost_of(run_in, run_out))} &nbsp;&nbsp; <b>total</b>: {b.input_tokens} in / "
            f"{b.output_tokens} out tokens{thinking} in {requests} · {c}{money(b.cost)}{left}</div>"
            f"<style>{CSS}</style>"
        )


def money(amount: float) -> str:
    """An amount with two significant digits however small (0.000050, not 0.0000), and cents
    from 1 up."""
    if amount <= 0:
        return "0.00"
    if amount >= 1:
        return f"{amount:.2f}"
    return f"{amount:.{1 - math.floor(math.log10(amount))}f}"


def _on_each_cell(start_run: Any) -> Any:
    """Call `start_run` before every cell IPython executes (nothing outside IPython); returns
    the function that stops it."""
    try:
        from IPython import get_ipython
    except ImportError:
        return lambda: None
    shell = get_ipython()
    if shell is None:
        return lambda: None

    def hook(*_: Any) -> None:
        start_run()

    shell.events.register("pre_run_cell", hook)

    def unhook() -> None:
        try:
            shell.events.unregister("pre_run_cell", hook)
        except ValueError:
            pass

    return unhook

"""What a run will cost before it runs: the requests it will send (what the cache or a replayed
bundle holds is not sent), their tokens (counted with the model's own tokenizer where nbllm
has it, else an estimate marked as such), their cost at the CostMeter's prices and their time
at the recent speed; and the refusal of a run that would cross the budget.

Counted on the caller's thread, or the Playground's "nbllm-estimate" thread (the embedded
model's tokenizer answers over HTTP).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Optional

from nbllm.core.messages import to_messages
from nbllm.engine import sessions as replay
from nbllm.errors import BudgetExceededError, NBLLMError
from nbllm.llms.token_counts import PER_MESSAGE, TokenCount, estimate
from nbllm.notebook.widgets.cost import money

RECENT = 20  # generations the recent speed is measured over
CALL_OPTIONS = frozenset({"structured_output", "progress", "progress_callback_func", "sample_offset"})


@dataclass
class RunEstimate:
    """The requests, tokens, cost and time of one LLM's part of a run, before it runs."""

    model: str
    requests: int
    held: int  # answers the cache or a replayed bundle holds: not sent, they cost nothing
    input_tokens: int
    max_output_tokens: int
    counted_by: str
    exact: bool
    cost: Optional[float]  # at most, at the budget's prices; None: no prices set
    seconds: Optional[float]  # expected, at the recent speed; None: nothing measured yet
    speed: Optional[float]
    budget: Any = None
    label: str = ""  # the variant this part of a run is (a setting, a model, a generator)
    thinks: bool = False  # a reasoning model: how much it thinks is not known before it answers

    def describe(self) -> str:
        mark = "" if self.exact else "≈"
        who = f"{self.label} ({self.model})" if self.label and self.label != self.model else self.model
        parts = [
            f"{who}: {self.requests} request{'s' if self.requests != 1 else ''} to send"
            + (f" ({self.held} held by the cache or the bundle)" if self.held else ""),
            f"{mark}{self.input_tokens:,} input tokens ({self.counted_by}) + at most {self.max_output_tokens:,} output",
        ]
        if self.cost is not None:
            parts.append(f"at most ${money(self.cost)} at the CostMeter's prices")
        if self.thinks and self.requests:
            parts.append("the model thinks before it answers: its output (and time) may run to the bound")
        if self.seconds is not None and self.speed:
            parts.append(f"about {_duration(self.seconds)} at the recent {self.speed:.0f} tokens/s")
        elif self.requests:
            parts.append("time unknown until a first answer is measured")
        return " · ".join(parts)

    def _repr_html_(self) -> str:
        return f"<div class='nbllm-estimate' style='font-size:12px;color:#374151'>{html.escape(self.describe())}</div>"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def estimate_run(
    llm: Any,
    prompts: list[Any],
    samples: int = 1,
    params: Optional[dict[str, Any]] = None,
    requests_per_sample: int = 1,
    label: str = "",
) -> RunEstimate:
    """The estimate for `samples` samples of each prompt on `llm` with `params` (call overrides).
    Prompts may be components (a generator's rendered job calls). `requests_per_sample` counts
    requests the cache is not looked at for (an ExampleGenerator's writing and grading)."""
    options = dict(params or {})
    fresh = bool(options.pop("fresh", False))
    params = {k: v for k, v in options.items() if k not in CALL_OPTIONS}
    merged = {**llm.default_params(), **llm.params.set_values(), **params}
    session = replay.active()
    serving = session is not None and session.serving
    fresh = fresh or (session is not None and session.mode == "replay" and session.compare)
    held = _held(llm, prompts, samples, params, fresh, serving) if requests_per_sample == 1 else 0
    total = len(prompts) * samples * requests_per_sample
    requests = max(0, total - held)
    if serving and session.fallback is None:
        requests = 0  # what the bundle lacks fails its row (NotRecordedError): nothing is sent
    counts = [_count(llm, p) for p in prompts] if requests else []
    share = requests / total if total else 0.0
    input_tokens = math.ceil(sum(c.tokens for c in counts) * samples * requests_per_sample * share)
    max_tokens = merged.get("max_tokens") or _ceiling(llm)
    max_output = requests * max_tokens
    exact = all(c.exact for c in counts)
    budget = None if serving else getattr(llm, "budget", None)  # a fallback is the embedded model: free
    priced = budget is not None and (budget.price_per_input_token or budget.price_per_output_token)
    cost = budget.cost_of(input_tokens, max_output) if priced else (0.0 if budget is not None else None)
    speed, typical, stream = _recent(llm)
    seconds = None
    if speed and stream and requests:
        # as fast as the recent answers came, for as many at once as ran then; fewer at once
        # (a run smaller than the engine's concurrency) each go at one answer's own speed
        at_once = min(requests, max(1, getattr(llm, "concurrency", 1) or 1))
        speed = min(speed, stream * at_once)
        seconds = requests * min(typical or max_tokens, max_tokens) / speed
    counted = counts[0].method if counts else "nothing to send"
    if len({c.method for c in counts}) > 1:
        counted = "; ".join(sorted({c.method for c in counts}))
    thinks = "reasoning_effort" in merged or llm.parameter_support(merged).efforts is not None
    return RunEstimate(
        llm.model_name, requests, held, input_tokens, max_output, counted, exact, cost, seconds, speed, budget,
        label, thinks,
    )  # fmt: skip


def estimate_generator(
    generator: Any, prompts: list[Any], options: dict[str, Any], label: str
) -> list[RunEstimate]:
    """A generator's part of a run, as it will send it: its job's rendered prompts, its job's
    and its own parameters, its runs or votes as samples (so the cache counts), one estimate
    per job-settings variant."""
    runs = getattr(generator, "num_runs", None) or getattr(generator, "num_votes", None) or 1
    variants = getattr(generator, "job_settings", None) or [None]
    out = []
    for settings in variants:
        job = generator.job if settings is None else generator.job.with_settings(settings)
        try:
            calls = generator.job_calls(prompts, job)
        except NBLLMError:
            calls = prompts
        params = {**job.params, **generator.params, **options}
        name = label if settings is None else f"{label} · {settings.name}"
        out.append(estimate_run(generator.llm, calls, int(runs), params, label=name))
    return out


def check_budget(estimates: list[RunEstimate]) -> None:
    """Refuse (BudgetExceededError) a run whose estimated cost, with what was spent and what
    requests in flight hold, would cross a budget's max_cost; LLMs sharing a budget add up."""
    by_budget: dict[int, tuple[Any, float, list[str]]] = {}
    for e in estimates:
        if e.budget is None or e.budget.max_cost is None or not e.cost:
            continue
        budget, cost, models = by_budget.get(id(e.budget), (e.budget, 0.0, []))
        by_budget[id(e.budget)] = (budget, cost + e.cost, [*models, e.model])
    for budget, cost, models in by_budget.values():
        left = budget.max_cost - budget.cost - budget.reserved
        if cost > left:
            raise BudgetExceededError(
                f"this run could cost up to ${money(cost)} ({', '.join(dict.fromkeys(models))}), more than the "
                f"${money(max(left, 0.0))} left of the budget of ${money(budget.max_cost)}; nothing was sent. "
                "Lower max_tokens, run fewer samples or prompts, or raise max_cost."
            )


def show(estimates: list[RunEstimate]) -> None:
    """Display the estimates in a notebook (nothing outside IPython)."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return
    if get_ipython() is not None and estimates:
        display(HTML("".join(e._repr_html_() for e in estimates)))


def requests_per_input(generator: Any) -> int:
    """The requests a generator sends per input: its runs, votes or settings."""
    runs = getattr(generator, "num_runs", None) or getattr(generator, "num_votes", None) or 1
    return int(runs) * max(1, len(getattr(generator, "job_settings", None) or ()))


def _count(llm: Any, prompt: Any) -> TokenCount:
    try:
        if hasattr(prompt, "format_for_llm"):  # a component: a generator's job call
            messages = prompt.format_for_llm()
        else:
            messages = to_messages(prompt, llm.effective_system_prompt)
    except (NBLLMError, AttributeError):
        return estimate(str(prompt))
    counter = getattr(llm, "prompt_tokens", None)  # None: a stand-in for an LLM
    try:
        if counter is not None:
            return counter(messages)
    except NBLLMError:
        pass
    counted = estimate(" ".join(m["content"] for m in messages))
    return TokenCount(counted.tokens + PER_MESSAGE * len(messages), counted.method, counted.exact)


def _held(
    llm: Any, prompts: list[Any], samples: int, params: dict[str, Any], fresh: bool, serving: bool
) -> int:
    """How many of the run's answers a replayed bundle or the cache already holds (the cache
    counts only when the run may use it)."""
    session = replay.active()
    cache = None if fresh else getattr(getattr(llm, "engine", None), "cache", None)
    if not serving and cache is None:
        return 0
    try:
        keys = [k for sample_keys in llm.plan(prompts, samples, **params).keys for k in sample_keys]
        if serving:
            return sum(k in session.entries for k in keys)
        return len(cache.get_many(keys, False))
    except NBLLMError:
        return 0


def _ceiling(llm: Any) -> int:
    """The most one request can write without max_tokens, as the engine's budget holds it: the
    model's known maximum output or its context, else the budget's assumed_output_tokens."""
    from nbllm.engine.budget import Budget
    from nbllm.llms.openai.models import known_output_ceiling

    model = getattr(llm, "model", None)
    limits = [known_output_ceiling(model) if isinstance(model, str) else None]
    context = getattr(llm, "context_size", None)
    limits.append(context() if callable(context) else None)
    known = [limit for limit in limits if limit]
    budget = getattr(llm, "budget", None) or Budget()
    return int(min(known) if known else budget.assumed_output_tokens)


def _recent(llm: Any) -> tuple[Optional[float], Optional[float], Optional[float]]:
    """Output tokens per second (over the time the recent generated answers took together, so
    answers made at once count as the engine made them), per answer, and one answer's own
    speed (its tokens over its latency)."""
    log = getattr(getattr(llm, "engine", None), "log", None)
    if log is None:
        return None, None, None
    made = [
        e for e in list(log.entries)[-4 * RECENT :] if not e.cache_hit and e.latency > 0 and e.output_tokens
    ]
    made = made[-RECENT:]
    if not made:
        return None, None, None
    tokens = sum(e.output_tokens for e in made)
    span = max(e.time for e in made) - min(e.time - e.latency for e in made)
    speed = tokens / max(span, min(e.latency for e in made))
    # one answer's own speed, from answers that ran alone; in a batch an answer's latency holds
    # its wait for a slot, so without such answers the batch's throughput stands for it
    alone = [
        e
        for e in made
        if not any(o is not e and o.time - o.latency < e.time and e.time - e.latency < o.time for o in made)
    ]
    stream = sum(e.output_tokens for e in alone) / sum(e.latency for e in alone) if alone else speed
    return speed, tokens / len(made), stream

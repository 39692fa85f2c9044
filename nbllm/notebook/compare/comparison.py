"""compare(): the same inputs over several LLMs, parameter sets or generators, side by side.

Runs on the caller's thread, which waits while the generations run on the I/O loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbllm.errors import InvalidParameterError, NBLLMError, UsageError


@dataclass
class Comparison:
    """The long table (one row per sample, a column per scorer), the wide table (one column per
    variant: the answer, or a cell's majority answer with several samples), a per-cell summary,
    a plot of what differs between the variants, and the models and shared options used.
    Unpacks as ``wide, figure = compare(...)``."""

    frame: Any
    wide: Any
    figure: Any
    models: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    cells: Any = None
    scores: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    marks: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    llms: list[Any] = field(default_factory=list, repr=False)
    created: str = ""
    estimates: list[Any] = field(default_factory=list)  # what the grid was expected to cost, before it ran
    identities: list[Any] = field(default_factory=list)  # of the models, as saved (save / load)
    nbllm_version: str = ""  # of the nbllm that made it, for a loaded run

    @property
    def long(self) -> Any:
        """One row per sample (the same as ``frame``)."""
        return self.frame

    def __iter__(self):
        return iter((self.wide, self.figure))

    @property
    def caption(self) -> str:
        shared = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"Compared on {', '.join(self.models)}" + (f" · shared options: {shared}" if shared else "")

    def score_table(self) -> Any:
        """One row per variant: each score's mean over the inputs (a cell's samples averaged first,
        as significance does), and against the baseline
        (the first variant) the difference with its significance in words."""
        import pandas as pd

        from nbllm.notebook.compare.significance import significance

        rows = []
        for label in self.labels:
            row: dict[str, Any] = {"variant": label}
            for name in self.scores:
                rows_of = self.frame[self.frame["variant"] == label]
                mean = rows_of.groupby("input_index")[name].mean().mean()  # per input, as significance
                row[name] = round(float(mean), 2)  # as the cells' notes show it
                if label == self.labels[0] and len(self.labels) > 1:
                    row[f"{name} vs {self.labels[0]}"] = "(the baseline)"
                elif label != self.labels[0]:
                    try:
                        row[f"{name} vs {self.labels[0]}"] = significance(
                            self.frame, self.labels[0], label, name
                        ).text
                    except NBLLMError as exc:
                        row[f"{name} vs {self.labels[0]}"] = str(exc)
            rows.append(row)
        return pd.DataFrame(rows)

    def cost_table(self) -> Any:
        """What each variant spent for its scores, per answer that succeeded (means): answer
        and thinking tokens, latency, and the cost where its LLM has a Budget with prices;
        with the score table's columns beside them. Answers "does more thinking pay?" over a
        ``params=[{"reasoning_effort": ...}, ...]`` grid."""
        import pandas as pd

        ok = self.frame[self.frame["error"].isna()] if "error" in self.frame else self.frame
        priced = self._budgets()
        rows = []
        for label in self.labels:
            rows_of = ok[ok["variant"] == label]
            output = pd.to_numeric(rows_of["output_tokens"], errors="coerce").fillna(0)
            thinking = pd.to_numeric(rows_of.get("reasoning_tokens", 0 * output), errors="coerce").fillna(0)
            row: dict[str, Any] = {
                "variant": label,
                "answer tokens": float((output - thinking).mean()) if len(rows_of) else float("nan"),
                "thinking tokens": float(thinking.mean()) if len(rows_of) else float("nan"),
                "latency s": float(pd.to_numeric(rows_of["latency"], errors="coerce").mean()),
            }
            budget = priced.get(label)
            if budget is not None:
                inputs = pd.to_numeric(rows_of["input_tokens"], errors="coerce").fillna(0)
                costs = [budget.cost_of(int(i), int(o)) for i, o in zip(inputs, output)]
                row["cost"] = sum(costs) / len(costs) if costs else float("nan")
            rows.append(row)
        table = pd.DataFrame(rows)
        if self.scores:
            table = table.merge(self.score_table(), on="variant", how="left", sort=False)
        return table

    def plot_cost(self, score: str | None = None) -> Any:
        """Each variant's mean score against what it cost per answer (its price where its LLM
        has a Budget with prices, else its output tokens, thinking included)."""
        from nbllm.notebook.compare.plot import plot_score_against_cost

        if not self.scores:
            raise UsageError("plot_cost needs a score: run compare with scorers={...}.")
        name = score or self.scores[0]
        if name not in self.scores:
            raise InvalidParameterError(f"score={name!r} is not one of {self.scores}.", "score")
        table = self.cost_table()
        if "cost" in table:
            return plot_score_against_cost(table, name, "cost")
        table["output tokens"] = table["answer tokens"] + table["thinking tokens"]
        return plot_score_against_cost(table, name, "output tokens")

    def _budgets(self) -> dict[str, Any]:
        """Per variant, the Budget with prices of the LLM that ran it (where it has one)."""

        def priced(llm: Any) -> Any:
            budget = getattr(llm, "budget", None)
            has_prices = budget is not None and (
                budget.price_per_input_token or budget.price_per_output_token
            )
            return budget if has_prices else None

        if len(self.llms) == 1:  # a parameter grid on one LLM
            return {label: priced(self.llms[0]) for label in self.labels}
        if len(self.llms) == len(self.labels):
            return {label: priced(llm) for label, llm in zip(self.labels, self.llms)}
        return {}

    def significance(self, a: str, b: str, score: str, **options: Any) -> Any:
        """Is `b`'s mean `score` different from `a`'s? See ``nbllm.significance``."""
        from nbllm.notebook.compare.significance import significance

        return significance(self.frame, a, b, score, **options)

    def to_html(self, path: str | Path) -> Path:
        """One self-contained HTML report (tables, plot, scores, settings, models, nbllm version
        and date) that opens in a browser with no kernel and no network."""
        from nbllm.notebook.compare.report import write_report

        return write_report(self, Path(path))

    def to_csv(self, path: str | Path, which: str = "long") -> Path:
        """The long (or ``which="wide"`` / ``"cells"``) table as CSV."""
        getattr(self, which).to_csv(path, index=False)
        return Path(path)

    def to_parquet(self, path: str | Path, which: str = "long") -> Path:
        """The long (or wide / cells) table as Parquet (needs pyarrow: pip install 'nbllm[compare]')."""
        from nbllm.notebook.compare.report import parquet

        return parquet(getattr(self, which), Path(path))

    def to_jsonl(self, path: str | Path) -> Path:
        """Every log entry of the compared LLMs, one JSON object per line."""
        from nbllm.notebook.compare.report import write_log

        return write_log(self.llms, Path(path))

    def interactive(self, which: str = "wide") -> Any:
        """The table as an interactive one (sort, filter, search) that works offline (itables)."""
        from nbllm.notebook.compare.report import interactive

        return interactive(getattr(self, which))

    def save(self, path: str | Path) -> Path:
        """Keep this run in one file (answers, scores, settings, model identities, nbllm's
        version; ``.json`` is added when it has no suffix) to load and compare with later."""
        from nbllm.notebook.compare.saved_runs import save

        return save(self, Path(path))

    @staticmethod
    def load(path: str | Path) -> Comparison:
        """A run saved with ``save``, as a Comparison (its tables, notes and plot made again)."""
        from nbllm.notebook.compare.saved_runs import read

        return assemble(**read(Path(path)))

    def versus(self, saved: Comparison | str | Path) -> Any:
        """This run against a saved one (a Comparison or its file), paired by input and
        variant: per score the difference with its interval and a paired test (the
        statistics of ``significance``), and the answers that changed."""
        from nbllm.notebook.compare.saved_runs import versus

        return versus(self, saved if isinstance(saved, Comparison) else Comparison.load(saved))

    def _repr_html_(self) -> str:
        from nbllm.notebook.compare.report import body_html

        return body_html(self)


def compare(
    inputs: Any,
    *,
    llms: list[Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    generators: list[Any] | None = None,
    llm: Any = None,
    num_generations: int = 1,
    samples: int | None = None,
    scorers: dict[str, Any] | None = None,
    column: str = "prompt",
    progress: bool = True,
    **options: Any,
) -> Comparison:
    """Run `inputs` through each LLM, each parameter set (on `llm`, by default nbllm's default
    LLM: the output names it) or each generator. Generation options (``max_tokens=30``, ...)
    apply to every run; a parameter set's own value wins over them.

    ``samples=N`` makes N distinct samples per cell: the long table has each, the wide one the
    majority answer. ``scorers={"name": scorer}`` adds a column per scorer (nbllm.scorers).
    `inputs` may be a DataFrame: its `column` holds the prompts, and its other columns are
    there for scorers (``scorers.reference("answer")``). ``progress`` shows a bar per variant
    while it runs (a widget in a notebook)."""
    import datetime

    import pandas as pd

    from nbllm.generators.sampler import Sampler, label_of
    from nbllm.notebook.compare import cells as summary
    from nbllm.notebook.compare.scorers import resolve
    from nbllm.notebook.display.frames import to_dataframe

    chosen = [x for x in (llms, params, generators) if x]
    if len(chosen) != 1:
        raise UsageError("compare needs exactly one of llms=[...], params=[...] or generators=[...].")
    if samples is not None:
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise InvalidParameterError(f"samples={samples!r} must be an integer >= 1.", "samples")
        num_generations = samples
    checked = resolve(scorers)
    prompts, rows = _inputs(inputs, column)
    frames, used = [], []
    target = None
    if params:
        from nbllm.llms.default import default_llm

        target = llm if llm is not None else default_llm()
    estimates = _estimate(prompts, num_generations, options, target, params, llms, generators)
    if params:
        labels = [label_of(p) for p in params]
    elif llms:
        labels = _unique([m.model_name for m in llms])
    else:
        labels = _unique([g.name for g in generators or []])
    bars = _Bars(labels, len(prompts) * num_generations, progress and "progress" not in options)
    try:
        if params:
            results = Sampler(target, variants=params).run(
                prompts, num_generations, bars.callbacks, **options
            )
            frames.append(to_dataframe(results))
            models, used = [target.model_name], [target]
        elif llms:
            for model, label in zip(llms, labels):
                each = {**options, **({"progress": bars.callbacks[label]} if bars.callbacks else {})}
                frames.append(to_dataframe(model.generate(prompts, num_generations, **each), variant=label))
            models, used = labels, list(llms)
        else:
            for generator, label in zip(generators or [], labels):
                frames.append(to_dataframe(bars.generate(generator, label, prompts, options), variant=label))
            used = [g.llm for g in generators or [] if getattr(g, "llm", None) is not None]
            models = list(dict.fromkeys(m.model_name for m in used))
    finally:
        bars.close()
    frame = summary.add_scores(pd.concat(frames, ignore_index=True), checked, rows)
    created = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return assemble(frame, list(checked), labels, models, dict(options), used, created, estimates)


def assemble(
    frame: Any,
    names: list[str],
    labels: list[str],
    models: list[str],
    options: dict[str, Any],
    used: list[Any],
    created: str,
    estimates: list[Any],
    **saved: Any,
) -> Comparison:
    """A Comparison from its long table: the per-cell summary, the wide table, the marked cells
    and the plot (for a run just made, and for one loaded from a file)."""
    from nbllm.notebook.compare import cells as summary
    from nbllm.notebook.compare.plot import plot_comparison
    from nbllm.notebook.display.frames import to_wide

    cells = summary.summarise(frame, "variant", names)
    many = int(cells["samples"].max()) > 1 if len(cells) else False
    if many:
        wide = cells.pivot_table(index=["input_index", "input"], columns="variant", values="majority",
                                 aggfunc="first", sort=False).reset_index()  # fmt: skip
        wide.columns.name = None
    else:
        wide = to_wide(frame, by="variant")
    wide = wide[[c for c in wide.columns if c not in labels] + [c for c in labels if c in wide.columns]]
    marks = summary.significant_cells(frame, "variant", labels, names) if many else {}
    figure = plot_comparison(frame, by="variant", scores=names)
    return Comparison(
        frame, wide, figure, models, options, cells, names, labels, marks, used, created, estimates, **saved
    )


def _estimate(
    prompts: list[Any],
    samples: int,
    options: dict[str, Any],
    target: Any,
    params: Any,
    llms: Any,
    generators: Any,
) -> list[Any]:
    """Each LLM's share of the grid, before anything is sent: shown, and refused if it would
    cross a budget."""
    from nbllm.generators.sampler import label_of
    from nbllm.notebook.compare import estimate as est

    if params:
        estimates = [
            est.estimate_run(target, prompts, samples, {**options, **p}, label=label_of(p)) for p in params
        ]
    elif llms:
        labels = _unique([m.model_name for m in llms])
        estimates = [est.estimate_run(m, prompts, samples, options, label=n) for m, n in zip(llms, labels)]
    else:
        labels = _unique([g.name for g in generators or []])
        estimates = [
            e
            for g, n in zip(generators, labels)
            if getattr(g, "llm", None) is not None
            for e in est.estimate_generator(g, prompts, options, n)
        ]
    est.check_budget(estimates)
    est.show(estimates)
    return estimates


class _Bars:
    """A progress bar per variant (tqdm: a widget in a notebook), each filling as its variant's
    answers come in; all are closed when the table is made, or the run stops."""

    def __init__(self, labels: list[str], total: int, show: bool) -> None:
        self.callbacks: dict[str, Any] = {}
        self._bars: list[Any] = []
        if not show:
            return
        from tqdm.auto import tqdm

        for label in labels:
            bar = tqdm(total=total, desc=label, unit="answer", leave=True)
            self._bars.append(bar)
            self.callbacks[label] = self._report(bar)

    @staticmethod
    def _report(bar: Any) -> Any:
        def report(done: int, total: int) -> None:  # on nbllm's callback thread
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        return report

    def generate(self, generator: Any, label: str, prompts: list[Any], options: dict[str, Any]) -> Any:
        """Run a generator with this variant's bar as its progress callback (its own is kept)."""
        own = generator.progress_callback
        bar = self.callbacks.get(label)
        if bar is not None:
            generator.progress_callback = bar if own is None else (lambda d, t: (bar(d, t), own(d, t)))
        try:
            return generator.generate(prompts, **options)
        finally:
            generator.progress_callback = own

    def close(self) -> None:
        for bar in self._bars:
            bar.close()


def _inputs(inputs: Any, column: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The prompts, and per prompt its row of the input table (empty without a table)."""
    import pandas as pd

    if isinstance(inputs, pd.DataFrame):
        if column not in inputs.columns:
            raise InvalidParameterError(
                f"column={column!r} is not a column of the input table; it has {list(inputs.columns)}.",
                "column",
            )
        return list(inputs[column]), inputs.to_dict("records")
    prompts = [inputs] if isinstance(inputs, str) else list(inputs)
    return prompts, [{} for _ in prompts]


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out

"""The comparison plot: answer length, agreement between samples and scores, per variant.

Pure: runs on whatever thread calls it (a comparison's plot is drawn on the kernel's).
"""

from __future__ import annotations

from typing import Any

from nbllm.notebook.display.plots import PALETTE, register_png_formatter, results_frame


def plot_comparison(results: Any, by: str = "variant", scores: list[str] | None = None) -> Any:
    """What differs between the compared variants: how long their answers are (output tokens,
    mean and spread over the answers that succeeded), with several samples per input how
    often the samples agree (the share of the most common answer, averaged over inputs), and
    each score's mean. Labels such as "temperature=0.2, max_tokens=30" wrap at their commas."""
    from matplotlib.figure import Figure

    frame = results_frame(results)
    ok = frame[frame["error"].isna()] if "error" in frame else frame
    keys = list(frame[by].drop_duplicates())
    labels = [str(k).replace(", ", "\n") for k in keys]
    samples = frame.groupby([by, "input_index"], sort=False).size().max() if len(frame) else 1
    scores = [name for name in scores or [] if name in frame]
    panels = (2 if samples > 1 else 1) + (1 if scores else 0)
    register_png_formatter()
    width = max(5.0, 1.3 * len(keys)) * panels
    figure = Figure(figsize=(min(width, 14.0), 3.6 + 0.25 * max(label.count("\n") for label in labels)),
                    layout="constrained")  # fmt: skip
    axes = figure.subplots(1, panels, squeeze=False)[0]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(keys))]
    lengths = ok.groupby(by, sort=False)["output_tokens"]
    means, spreads = lengths.mean(), lengths.std().fillna(0.0)
    axes[0].bar(labels, [float(means.get(k, 0.0)) for k in keys],
                yerr=[float(spreads.get(k, 0.0)) for k in keys], color=colours, capsize=4)  # fmt: skip
    axes[0].set(title="Answer length", ylabel="output tokens (mean ± sd)")
    if samples > 1:
        texts = ok.assign(answer=ok["generation"].astype(str).str.split().str.join(" ").str.lower())
        shares = texts.groupby([by, "input_index"], sort=False)["answer"].agg(
            lambda a: a.value_counts().iloc[0] / len(a)
        )
        agreement = shares.groupby(level=0, sort=False).mean()
        axes[1].bar(labels, [float(agreement.get(k, 0.0)) for k in keys], color=colours)
        axes[1].set(title="Agreement between samples", ylabel="share of the most common answer", ylim=(0, 1))
    if scores:
        ax, width = axes[-1], 0.8 / len(scores)
        for j, name in enumerate(scores):
            means = frame.groupby(by, sort=False)[name].mean()
            ax.bar([i + (j - (len(scores) - 1) / 2) * width for i in range(len(keys))],
                   [float(means.get(k, 0.0)) for k in keys], width, label=name)  # fmt: skip
        ax.set_xticks(range(len(keys)), labels)
        ax.set(title="Scores", ylabel="mean over samples")
        ax.legend(fontsize=7)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=8, labelrotation=30 if len(keys) > 4 else 0)
        ax.spines[["top", "right"]].set_visible(False)
    return figure


def plot_score_against_cost(table: Any, score: str, cost: str) -> Any:
    """Does spending more pay? Each variant as a point: its mean `score` against its mean
    `cost` per answer (a column of ``Comparison.cost_table()``), labelled by the variant."""
    from matplotlib.figure import Figure

    register_png_formatter()
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.subplots()
    for i, row in enumerate(table.itertuples(index=False)):
        x, y = getattr(row, _attr(table, cost)), getattr(row, _attr(table, score))
        ax.scatter([x], [y], color=PALETTE[i % len(PALETTE)], s=60, zorder=3)
        ax.annotate(str(row[0]), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set(title=f"{score} against {cost}", xlabel=cost, ylabel=f"{score} (mean)")
    # a cost per answer is often a few millionths: ticks as 6, 8, ... with the power apart, not
    # as 0.000060 written over one another
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useOffset=False)
    ax.margins(x=0.2)  # room for the labels of the points at either end
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.3)
    return figure


def _attr(table: Any, column: str) -> str:
    """The attribute itertuples gives `column` (names with spaces are renamed by position)."""
    names = list(table.columns)
    return column if column.isidentifier() else f"_{names.index(column)}"

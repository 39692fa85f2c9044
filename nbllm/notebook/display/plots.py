"""Token-statistics plots. Each returns a matplotlib Figure built without pyplot (a pyplot
figure returned from a cell displays twice in Jupyter) and accepts an existing ``ax``.

Pure: runs on whatever thread calls it (the kernel's, or nbllm-callbacks for the Playground).
"""

from __future__ import annotations

from typing import Any

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def results_frame(results: Any) -> Any:
    import pandas as pd

    from nbllm.notebook.display.frames import to_dataframe

    return results if isinstance(results, pd.DataFrame) else to_dataframe(results)


def _axes(ax: Any, size: tuple[float, float] = (7.0, 3.6)) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    register_png_formatter()
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def register_png_formatter() -> None:
    """Let IPython show a pyplot-free Figure returned from a cell as a PNG, once, if nothing
    (such as the inline backend) already does."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
    except KeyError:
        png.for_type(Figure, _png_bytes)


def _png_bytes(figure: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_tokens(results: Any, ax: Any = None) -> Any:
    """Input and output tokens per row (one row per generation), stacked."""
    frame = results_frame(results)
    figure, ax = _axes(ax)
    rows = range(len(frame))
    ax.bar(rows, frame["input_tokens"], color=PALETTE[0], label="input tokens")
    ax.bar(
        rows, frame["output_tokens"], bottom=frame["input_tokens"], color=PALETTE[1], label="output tokens"
    )
    ax.set(title="Tokens per generation", xlabel="generation (row)", ylabel="tokens")
    if len(frame) <= 20:
        ax.set_xticks(list(rows))
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def plot_latency(results: Any, ax: Any = None, bins: int = 20) -> Any:
    """The distribution of latencies of the generations that called the model (cache hits left out)."""
    frame = results_frame(results)
    called = frame[~frame["cache_hit"].astype(bool)]
    figure, ax = _axes(ax)
    values = called["latency"] if len(called) else frame["latency"]
    ax.hist(values, bins=bins, color=PALETTE[2], edgecolor="white")
    ax.set(title="Latency per generation", xlabel="seconds", ylabel="generations")
    if len(called) < len(frame):
        ax.annotate(
            f"{len(frame) - len(called)} cache hits left out",
            xy=(0.98, 0.92),
            xycoords="axes fraction",
            ha="right",
        )
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def plot_tokens_per_second(results: Any, by: str | None = None, ax: Any = None) -> Any:
    """Mean output tokens per second per variant (or model, or generator), with the spread.

    Cached rows took no time and failed rows made nothing, so they have no speed: they are left
    out, a group with none left says why, and when everything came from the cache the output
    tokens are shown."""
    frame = results_frame(results)
    by = by or next(
        (c for c in ("variant", "generator", "model") if c in frame and frame[c].nunique() > 1), "model"
    )
    figure, ax = _axes(ax)
    failed = frame["error"].notna() if "error" in frame else frame["cache_hit"].isna()
    cached = frame["cache_hit"].astype(bool)
    generated = frame[~cached & ~failed]
    if frame[~failed].empty:
        grouped = frame.groupby(by, sort=False)["output_tokens"]
        title = f"Output tokens by {by} (every row failed, so no speed to show)"
        ylabel = "output tokens"
    elif generated.empty:
        grouped = frame.groupby(by, sort=False)["output_tokens"]
        title = f"Output tokens by {by} (all from the cache, so no speed to show)"
        ylabel = "output tokens"
    else:
        grouped = generated.groupby(by, sort=False)["tokens_per_second"]
        title, ylabel = f"Output tokens per second by {by}", "tokens / second"
    means, spreads = grouped.mean(), grouped.std().fillna(0.0)
    keys = list(frame[by].drop_duplicates())
    labels = [str(x) for x in keys]
    values = [float(means.get(x, 0.0)) for x in keys]
    errors = [float(spreads.get(x, 0.0)) for x in keys]
    bars = ax.bar(
        labels, values, yerr=errors, color=[PALETTE[i % len(PALETTE)] for i in range(len(labels))], capsize=4
    )
    for bar, key in zip(bars, keys):
        if not generated.empty and key not in means.index:
            why = "all cached" if frame[(frame[by] == key) & ~failed].shape[0] else "all failed"
            ax.annotate(why, (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom")
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", labelrotation=20 if len(labels) > 3 else 0)
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def plot_distribution(
    tokens: list[str],
    probabilities: list[float],
    ax: Any = None,
    title: str = "",
    model: list[float] | None = None,
    top_n: int = 12,
) -> Any:
    """A next-token distribution as horizontal bars, the first `top_n` tokens (most likely
    first) and every other token as one bar; with `model`, the model's own probabilities as
    pale bars behind what the sampler draws from. Each bar says its value."""
    rest = len(tokens) - top_n
    labels = [repr(t) for t in tokens[:top_n]] + ([f"all other {rest} tokens"] if rest > 0 else [])

    def shown(values: list[float]) -> list[float]:
        return [*values[:top_n], *([sum(values[top_n:])] if rest > 0 else [])]

    drawn = shown(probabilities)
    figure, ax = _axes(ax, (6.4, 0.3 * len(labels) + 1.3))
    if model is not None:
        ax.barh(labels[::-1], shown(model)[::-1], color="#c7d2e8", label="the model's probability")
    ax.barh(labels[::-1], drawn[::-1], height=0.5, color=PALETTE[0], label="what the sampler draws from")
    for y, p in enumerate(drawn[::-1]):
        text = "cut" if p == 0 else f"{p:.0%}" if p >= 0.01 else "<1%"
        ax.annotate(text, (min(p, 0.9) + 0.01, y), va="center", fontsize=8, color="#374151")
    ax.set(xlim=(0, 1), xlabel="probability", title=title or "Next-token distribution")
    if model is not None:
        if ax.figure.get_layout_engine() is not None:  # ours: the legend goes under the chart
            ax.figure.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
        else:
            ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def figure_image(figure: Any) -> Any:
    """A figure as an IPython Image (PNG), for feeding Output widgets from any thread."""
    from IPython.display import Image

    return Image(data=_png_bytes(figure), format="png")


def replace_output(output: Any, *objects: Any) -> None:
    """Show `objects` in an Output widget in place of what it held, in one assignment: the
    widget never blinks empty between the old chart and the new one. Any thread may call it
    (a ``with output:`` block from another thread would lose what it shows)."""
    from IPython.core.interactiveshell import InteractiveShell

    formatter = InteractiveShell.instance().display_formatter.format
    shown = []
    for item in objects:
        data, metadata = formatter(item)
        shown.append({"output_type": "display_data", "data": data, "metadata": metadata})
    output.outputs = tuple(shown)

"""The arena's ranking plot: each contender's Bradley-Terry score with its interval, and the
win-rate matrix beside it.

Pure: runs on whatever thread calls it (the kernel's, when an arena or a pooled ranking plots).
"""

from __future__ import annotations

from typing import Any

from nbllm.notebook.display.plots import PALETTE, register_png_formatter


def plot_ranking(ranking: Any, win_rates: Any = None, basis: str = "") -> Any:
    """An arena's ranking: each contender's score with its bootstrap interval, best on top, and
    beside it the win-rate matrix (row beat column) when given; `basis` says what it rests on
    ("3 voters, 48 votes")."""
    from matplotlib.figure import Figure

    register_png_formatter()
    panels = 2 if win_rates is not None else 1
    figure = Figure(figsize=(5.5 * panels, max(3.0, 1.2 + 0.45 * len(ranking))), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    order = ranking.iloc[::-1].astype({"score": float, "low": float, "high": float})
    errors = [order["score"] - order["low"], order["high"] - order["score"]]
    axes[0].errorbar(order["score"], range(len(order)), xerr=errors, fmt="o", color=PALETTE[0], capsize=4)
    axes[0].set_yticks(
        range(len(order)), [f"{c} ({v} votes)" for c, v in zip(order["contender"], order["votes"])]
    )
    title = "Ranking (Bradley-Terry, 95% interval)" + (f"\n{basis}" if basis else "")
    axes[0].set(title=title, xlabel="score (Elo scale)")
    axes[0].spines[["top", "right"]].set_visible(False)
    if win_rates is not None:
        image = axes[1].imshow(win_rates.to_numpy(dtype=float), vmin=0, vmax=1, cmap="RdYlGn")
        names = [str(n) for n in win_rates.index]
        axes[1].set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axes[1].set_yticks(range(len(names)), names, fontsize=8)
        axes[1].set(title="Win rate: row beat column")
        figure.colorbar(image, ax=axes[1], shrink=0.8)
    return figure

"""Is a difference between two compared variants real? A bootstrap confidence interval for the
difference of mean scores and a permutation test (paired where both saw the same inputs), both
from scipy.stats, answered in plain words.

Runs on the caller's thread (a few thousand resamples: well under a second for a notebook grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbllm.errors import InvalidParameterError, MissingDependencyError

RESAMPLES = 9999


@dataclass(frozen=True)
class Significance:
    """The answer to "does `b` score differently from `a` on `score`?"."""

    a: str
    b: str
    score: str
    mean_a: float
    mean_b: float
    difference: float  # mean_b - mean_a
    low: float  # the confidence interval of the difference
    high: float
    p_value: float
    inputs: int
    paired: bool
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        """The test rejects "no difference" at 1 - confidence (and the interval excludes 0)."""
        return self.p_value < 1 - self.confidence and (self.low > 0 or self.high < 0)

    @property
    def text(self) -> str:
        if self.difference == 0:
            how = f"{self.b!r} and {self.a!r} score the same on {self.score!r} ({self.mean_a:.3g})"
        else:
            direction = "higher" if self.difference > 0 else "lower"
            how = (
                f"{self.b!r} scores {abs(self.difference):.3g} {direction} than {self.a!r} on "
                f"{self.score!r} ({self.mean_b:.3g} vs {self.mean_a:.3g})"
            )
        test = "a paired permutation test" if self.paired else "a permutation test"
        verdict = (
            "the difference is unlikely to be sampling noise."
            if self.significant
            else "this could well be sampling noise: more inputs or samples would tell."
        )
        return (
            f"{how}; {self.confidence:.0%} confidence interval of the difference "
            f"[{self.low:.3g}, {self.high:.3g}] over {self.inputs} inputs; {test} gives "
            f"p = {self.p_value:.3g}: {verdict}"
        )

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html

        colour = "#166534" if self.significant else "#92400e"
        return f'<p style="color:{colour}">{html.escape(self.text)}</p>'


def significance(
    frame: Any,
    a: str,
    b: str,
    score: str,
    by: str = "variant",
    confidence: float = 0.95,
    seed: int | None = 0,
    resamples: int = RESAMPLES,
) -> Significance:
    """Compare the mean of `score` between the rows where `by` is `a` and where it is `b`.

    Samples of one input are averaged first, so the unit is the input. Where both variants saw
    the same inputs the test is paired (each input against itself); otherwise independent.
    `frame` is a comparison's long table (``result.long``) or the comparison itself."""
    import numpy as np

    try:
        from scipy import stats
    except ImportError:
        raise MissingDependencyError("significance needs scipy: pip install 'nbllm[compare]'") from None
    frame = getattr(frame, "long", frame)
    for name, value in (("by", by), ("score", score)):
        if value not in frame.columns:
            raise InvalidParameterError(
                f"{name}={value!r} is not a column of the table; its columns: {list(frame.columns)}.", name
            )
    values = frame[score]
    if values.dtype == object:
        values = values.map(lambda v: float(v) if isinstance(v, (bool, int, float)) else v)
    if not all(v is None or isinstance(v, (int, float, np.number)) for v in values):
        raise InvalidParameterError(
            f"score={score!r} is not a numeric column (a scorer's column is).", "score"
        )
    table = frame.assign(_value=values.astype(float))
    groups, seen = {}, {}
    for name, label in (("a", a), ("b", b)):
        rows = table[table[by] == label]
        if rows.empty:
            known = ", ".join(repr(v) for v in table[by].dropna().unique())
            raise InvalidParameterError(
                f"{name}={label!r} names no {by} of this table; it has {known}.", name
            )
        seen[name] = set(rows["input_index"])
        groups[name] = rows.groupby("input_index")["_value"].mean().dropna()
    if min(len(groups["a"]), len(groups["b"])) < 2:
        raise InvalidParameterError(
            f"{a!r} and {b!r} need at least 2 scored inputs each to compare.", "frame"
        )
    # The same inputs were asked of both: paired, over the inputs both have a score for.
    paired = seen["a"] == seen["b"]
    shared = groups["a"].index.intersection(groups["b"].index)
    if paired and len(shared) < 2:
        raise InvalidParameterError(
            f"{a!r} and {b!r} have fewer than 2 inputs scored on both sides.", "frame"
        )
    if paired:
        x, y = groups["a"].loc[shared].to_numpy(), groups["b"].loc[shared].to_numpy()
        data: tuple[Any, ...] = (y - x,)
        interval = _bootstrap(stats, data, lambda d, axis: np.mean(d, axis=axis), confidence, seed, resamples)
        test = stats.permutation_test(
            (y, x),
            lambda u, v, axis: np.mean(u - v, axis=axis),
            permutation_type="samples",
            n_resamples=resamples,
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    else:
        x, y = groups["a"].to_numpy(), groups["b"].to_numpy()
        interval = _bootstrap(
            stats,
            (y, x),
            lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
            confidence,
            seed,
            resamples,
        )
        test = stats.permutation_test(
            (y, x),
            lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
            permutation_type="independent",
            n_resamples=resamples,
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    return Significance(
        a, b, score, float(np.mean(x)), float(np.mean(y)), float(np.mean(y) - np.mean(x)),
        float(interval[0]), float(interval[1]), float(test.pvalue), int(max(len(x), len(y))), paired, confidence,
    )  # fmt: skip


def _bootstrap(
    stats: Any, data: tuple[Any, ...], statistic: Any, confidence: float, seed: Any, resamples: int
) -> tuple[float, float]:
    import numpy as np

    if all(np.ptp(d) == 0 for d in data):  # no spread: every resample gives the same value
        value = float(statistic(*data, axis=-1))
        return value, value
    result = stats.bootstrap(
        data, statistic, confidence_level=confidence, n_resamples=resamples, method="percentile",
        rng=np.random.default_rng(seed), vectorized=True,
    )  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def cell_differs(baseline: Any, other: Any, resamples: int = 999, seed: int | None = 0) -> bool:
    """Whether one cell's sample scores differ from the baseline cell's (an independent
    permutation test at 0.05; False with fewer than 2 scores on either side)."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(baseline, dtype=float), np.asarray(other, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if min(len(x), len(y)) < 2 or (np.ptp(np.concatenate([x, y])) == 0):
        return False
    test = stats.permutation_test(
        (y, x), lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
        permutation_type="independent", n_resamples=resamples, vectorized=True, rng=np.random.default_rng(seed),
    )  # fmt: skip
    return bool(test.pvalue < 0.05)

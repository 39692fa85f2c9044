"""compare()'s statistics and scorers: the numbers against known distributions, scorers one by
one, and bad input named (pure logic on synthetic tables; the real-model runs are in
test_compare_real.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

import nbllm
from nbllm import scorers
from nbllm.notebook.compare.cells import add_scores, summarise
from nbllm.notebook.compare.scorers import resolve


def _table(
    p_a: float, p_b: float, inputs: int = 30, samples: int = 5, seed: int = 1, shift: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for variant, p, offset in (("a", p_a, 0), ("b", p_b, shift)):
        for i in range(inputs):
            for k in range(samples):
                rows.append({"variant": variant, "input_index": i + offset, "generation_index": k,
                             "score": float(rng.random() < p)})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_real_difference_is_found_and_its_interval_holds_the_truth() -> None:
    result = nbllm.significance(_table(0.5, 0.9), a="a", b="b", score="score")
    assert result.paired and result.inputs == 30
    assert result.significant and result.p_value < 0.001
    assert result.low < 0.4 < result.high  # the true difference
    assert (
        "'b' scores" in result.text
        and "higher" in result.text
        and "unlikely to be sampling noise" in result.text
    )


def test_no_difference_is_rarely_called_one() -> None:
    calls = [
        nbllm.significance(
            _table(0.6, 0.6, inputs=20, seed=seed), "a", "b", "score", resamples=2000
        ).significant
        for seed in range(20)
    ]
    assert sum(calls) <= 3  # about 5% expected
    covered = [
        (r.low <= 0 <= r.high)
        for r in (
            nbllm.significance(_table(0.6, 0.6, inputs=20, seed=s), "a", "b", "score", resamples=2000)
            for s in range(20)
        )
    ]
    assert sum(covered) >= 17


def test_different_inputs_are_compared_unpaired() -> None:
    result = nbllm.significance(_table(0.2, 0.8, shift=100), "a", "b", "score")
    assert not result.paired and result.significant and result.low < 0.6 < result.high


def test_bad_arguments_name_themselves() -> None:
    table = _table(0.5, 0.5).assign(text="x")
    with pytest.raises(nbllm.InvalidParameterError, match="score='text' is not a numeric column") as info:
        nbllm.significance(table, "a", "b", "text")
    assert info.value.field == "score"
    with pytest.raises(nbllm.InvalidParameterError, match="b='c' names no variant") as info:
        nbllm.significance(table, "a", "c", "score")
    assert info.value.field == "b"
    with pytest.raises(nbllm.InvalidParameterError, match="score='nope' is not a column"):
        nbllm.significance(table, "a", "b", "nope")


class Capital(BaseModel):
    city: str


def test_every_scorer_kind() -> None:
    checks = resolve({
        "paris": scorers.contains("Paris"),
        "exact": scorers.equals("paris"),
        "digits": scorers.regex(r"\d+"),
        "json": "valid_json",
        "schema": scorers.json_schema(Capital),
        "short": lambda text: len(text) < 12,
        "length": lambda text: len(text),
        "matches": lambda text, row: row["answer"] in text,
        "reference": scorers.reference("answer"),
    })  # fmt: skip
    texts = ["Paris", '{"city": "Rome"}', "It is 42", None]
    rows = [{"answer": "Paris"}, {"answer": "Rome"}, {"answer": "Oslo"}, {"answer": "x"}]
    frame = pd.DataFrame(
        {
            "variant": "v",
            "input_index": range(4),
            "input": ["q"] * 4,
            "generation": texts,
            "error": [None] * 4,
        }
    )
    scored = add_scores(frame, checks, rows)
    assert scored["paris"].tolist()[:3] == [1.0, 0.0, 0.0]
    assert scored["exact"].tolist()[:3] == [1.0, 0.0, 0.0]
    assert scored["digits"].tolist()[:3] == [0.0, 0.0, 1.0]
    assert scored["json"].tolist()[:3] == [0.0, 1.0, 0.0]
    assert scored["schema"].tolist()[:3] == [0.0, 1.0, 0.0]
    assert scored["short"].tolist()[:3] == [1.0, 0.0, 1.0]
    assert scored["length"].tolist()[:3] == [5.0, 16.0, 8.0]
    assert scored["matches"].tolist()[:3] == [1.0, 1.0, 0.0]
    assert scored["reference"].tolist()[:3] == [1.0, 1.0, 0.0]
    assert scored[list(checks)].iloc[3].isna().all()  # a failed generation is not scored


def test_a_raising_scorer_marks_its_cell_not_the_table() -> None:
    def fragile(text: str) -> bool:
        if "boom" in text:
            raise RuntimeError("cannot score this")
        return True

    frame = pd.DataFrame({
        "variant": ["v", "v", "w", "w"], "input_index": [0, 0, 1, 1], "input": ["q", "q", "r", "r"],
        "generation": ["fine", "boom", "fine", "fine"], "error": [None] * 4,
    })  # fmt: skip
    scored = add_scores(frame, resolve({"fragile": fragile}), [{}, {}])
    assert scored["fragile"].tolist()[0] == 1.0 and np.isnan(scored["fragile"].tolist()[1])
    assert "RuntimeError: cannot score this" in scored["fragile error"].tolist()[1]
    cells = summarise(scored, "variant", ["fragile"])
    assert cells["fragile error"].tolist() == [1, 0] and cells["fragile"].tolist() == [1.0, 1.0]


def test_unknown_or_broken_scorers_are_refused_by_name() -> None:
    with pytest.raises(nbllm.InvalidParameterError, match=r"scorers\['x'\]='nope' is not a scorer") as info:
        resolve({"x": "nope"})
    assert info.value.field == "scorers['x']"
    with pytest.raises(nbllm.InvalidParameterError, match=r"scorers\['n'\] is a int"):
        resolve({"n": 3})
    with pytest.raises(nbllm.InvalidParameterError, match="takes 3 arguments"):
        resolve({"f": lambda a, b, c: 1})
    with pytest.raises(nbllm.InvalidParameterError, match="not a valid pattern"):
        scorers.regex("(")


def test_a_scorer_returning_numpy_or_nonsense_never_breaks_the_table() -> None:
    checks = resolve(
        {"np": lambda t: np.bool_(len(t) > 2), "none": lambda t: None, "int": lambda t: np.int64(3)}
    )
    frame = pd.DataFrame(
        {"variant": "v", "input_index": [0], "input": ["q"], "generation": ["abcd"], "error": [None]}
    )
    scored = add_scores(frame, checks, [{}])
    assert scored["np"].tolist() == [1.0] and scored["int"].tolist() == [3.0]
    assert (
        np.isnan(scored["none"].iloc[0]) and "must return a bool or a number" in scored["none error"].iloc[0]
    )


def test_one_unscored_input_keeps_the_test_paired() -> None:
    table = _table(0.5, 0.5, inputs=12, samples=1, seed=4)
    table.loc[table["variant"] == "b", "score"] = table.loc[table["variant"] == "a", "score"].to_numpy() + 0.1
    table.loc[(table["variant"] == "b") & (table["input_index"] == 3), "score"] = np.nan
    result = nbllm.significance(table, "a", "b", "score")
    assert result.paired and result.inputs == 11 and result.significant

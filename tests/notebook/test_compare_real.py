"""compare() with samples and scorers on the embedded model: cells summarise their samples,
scores land in their columns, the exports read back, and bad input is refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbllm
from nbllm import scorers

pytestmark = pytest.mark.slow

TABLE = pd.DataFrame({
    "prompt": ["What is the capital of France? Answer in one sentence.",
               "What is the capital of Japan? Answer in one sentence."],
    "capital": ["Paris", "Tokyo"],
})  # fmt: skip


def test_samples_per_cell_scores_and_exports(embedded, tmp_path: Path) -> None:
    def fragile(text: str) -> float:
        if "Tokyo" in text:
            raise ValueError("no Tokyo here")
        return len(text)

    result = nbllm.compare(
        TABLE, params=[{"temperature": 0.0}, {"temperature": 1.3}], llm=embedded, samples=4, max_tokens=16,
        seed=3, scorers={"right": scorers.reference("capital"), "fragile": fragile},
    )  # fmt: skip
    wide, figure = result  # unpacks as before
    assert len(result.long) == 2 * 2 * 4 and set(result.long["generation_index"]) == {0, 1, 2, 3}
    assert (
        list(wide.columns) == ["input_index", "input", "temperature=0.0", "temperature=1.3"]
        and len(wide) == 2
    )
    greedy = result.cells[result.cells["variant"] == "temperature=0.0"]
    assert (greedy["agreement"] == 1.0).all() and (
        greedy["samples"] == 4
    ).all()  # greedy: one answer four times
    assert set(result.long["right"].dropna()) <= {0.0, 1.0}
    assert greedy["right"].tolist() == [1.0, 1.0]
    tokyo = result.long[result.long["generation"].str.contains("Tokyo", na=False)]
    assert tokyo["fragile"].isna().all() and tokyo["fragile error"].str.contains("no Tokyo here").all()
    html = result._repr_html_()
    assert "4/4 agree" in html and "right 1.00" in html and "data:image/png;base64," in html
    table = result.score_table()
    assert (
        "right vs temperature=0.0" in table.columns
        and "confidence interval" in table.iloc[1]["right vs temperature=0.0"]
    )
    assert figure is result.figure and len(figure.axes) == 3  # length, agreement, scores

    back = pd.read_csv(result.to_csv(tmp_path / "long.csv"))
    assert len(back) == 16 and "right" in back.columns
    assert len(pd.read_parquet(result.to_parquet(tmp_path / "cells.parquet", which="cells"))) == 4
    lines = [json.loads(line) for line in result.to_jsonl(tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines and all(line["llm"] == "SmolLM2-135M-Instruct" and "params" in line for line in lines)
    report = result.to_html(tmp_path / "report.html").read_text()
    assert "http://" not in report and "https://" not in report and "<script" not in report
    assert "SmolLM2-135M-Instruct" in report and result.created in report


def test_a_judge_grades_with_a_logged_llm(embedded) -> None:
    grader = nbllm.LlamaCppLLM(cache=False)
    result = nbllm.compare(
        ["Name a fruit."], params=[{"temperature": 0.0}], llm=embedded, max_tokens=12,
        scorers={"judged": scorers.judge(grader, "The answer names a fruit.")},
    )  # fmt: skip
    judged = result.long["judged"].iloc[0]
    errors = result.long.get("judged error")
    assert judged in (0.0, 1.0) or "not YES or NO" in str(errors.iloc[0])
    prompts = [e for e in grader.engine.log.entries]
    assert len(prompts) == 1 and prompts[0].params.get("temperature") == 0  # the verdict is a logged call


def test_bad_input_names_the_argument(embedded) -> None:
    with pytest.raises(nbllm.InvalidParameterError, match=r"scorers\['x'\]"):
        nbllm.compare(["x"], params=[{}], llm=embedded, scorers={"x": "no such scorer"})
    with pytest.raises(nbllm.InvalidParameterError, match="samples=0"):
        nbllm.compare(["x"], params=[{}], llm=embedded, samples=0)
    with pytest.raises(nbllm.InvalidParameterError, match="column='question'"):
        nbllm.compare(TABLE, params=[{}], llm=embedded, column="question")


def test_an_interactive_table_leaves_every_other_table_as_it_was() -> None:
    """``interactive()`` makes its own table a DataTable; itables' notebook mode would make every
    later DataFrame in the kernel one."""
    import pandas as pd

    from nbllm.notebook.compare.report import interactive

    plain = pd.DataFrame.__dict__.get("_repr_html_")
    html = interactive(pd.DataFrame({"a": [1, 2]})).data
    assert "DataTable" in html or "ITable" in html
    assert pd.DataFrame.__dict__.get("_repr_html_") is plain
    assert (
        "<table" in pd.DataFrame({"b": [3]})._repr_html_()
        and "ITable" not in pd.DataFrame({"b": [3]})._repr_html_()
    )


def test_a_bar_per_variant_fills_as_its_answers_come_and_closes_with_the_table(
    embedded: nbllm.LlamaCppLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tqdm.auto

    made: list[Any] = []

    class Recorded(tqdm.auto.tqdm):  # tqdm itself, with every bar kept for the test to read
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "disable": False})
            made.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    result = nbllm.compare(
        ["Name a colour.", "Name a fruit."], params=[{"temperature": 0.2}, {"temperature": 1.0}],
        llm=embedded, samples=3, max_tokens=4, seed=1,
    )  # fmt: skip
    assert [b.desc for b in made] == result.labels == ["temperature=0.2", "temperature=1.0"]
    assert all(b.n == b.total == 6 for b in made), [(b.n, b.total) for b in made]
    assert all(b.disable for b in made)  # closed (tqdm disables a bar it closes) with the table
    made.clear()
    nbllm.compare(
        ["Name a colour."], params=[{"temperature": 0.2}], llm=embedded, max_tokens=4, progress=False
    )
    assert made == []

"""A comparison saved to one file loads back whole, and this run compares with a saved one on
the embedded model: per score the difference with its interval and paired test, the answers
that changed; a saved run of other inputs or other scorers is refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import nbllm
from nbllm import scorers
from nbllm.errors import InvalidParameterError

pytestmark = pytest.mark.slow

TABLE = pd.DataFrame({
    "prompt": [f"What is the capital of {c}? Answer in one sentence." for c in ("France", "Japan", "Italy")],
    "capital": ["Paris", "Tokyo", "Rome"],
})  # fmt: skip
SETTINGS = [{"temperature": 0.2}, {"temperature": 1.4}]
RIGHT = {"right capital": scorers.reference("capital")}


def run(llm, seed: int, table: pd.DataFrame = TABLE, scored: dict | None = None) -> nbllm.Comparison:
    return nbllm.compare(
        table, params=SETTINGS, llm=llm, samples=3, max_tokens=12, seed=seed,
        scorers=RIGHT if scored is None else scored, progress=False,
    )  # fmt: skip


def test_a_saved_run_loads_back_whole(embedded, tmp_path: Path) -> None:
    first = run(embedded, seed=1)
    first.options["extra_headers"] = {"Authorization": "Bearer sk-not-for-files-12345"}
    path = first.save(tmp_path / "runs" / "monday")
    assert "sk-not-for-files" not in path.read_text()  # a credential never reaches the file
    del first.options["extra_headers"]
    assert path.name == "monday.json" and path.is_file()
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left behind
    loaded = nbllm.Comparison.load(path)
    columns = ["input_index", "input", "variant", "generation_index", "generation", "right capital", "seed"]
    pd.testing.assert_frame_equal(
        loaded.frame[columns].reset_index(drop=True),
        first.frame[columns].reset_index(drop=True),
        check_dtype=False,
    )
    assert loaded.labels == first.labels and loaded.scores == ["right capital"]
    assert loaded.models == ["SmolLM2-135M-Instruct"] and loaded.options == {
        "max_tokens": 12,
        "seed": 1,
        "extra_headers": "***",
    }
    assert loaded.nbllm_version == nbllm.__version__ and loaded.created == first.created
    identity = loaded.identities[0]  # the model file by its content
    assert identity["backend"] == "llama.cpp" and len(identity["sha256"]) == 64
    pd.testing.assert_frame_equal(loaded.wide, first.wide, check_dtype=False)
    assert "right capital" in loaded._repr_html_()  # tables, notes and plot made again
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InvalidParameterError, match="not a saved comparison"):
        nbllm.Comparison.load(junk)


def test_this_run_against_a_saved_one(embedded, tmp_path: Path) -> None:
    saved = run(embedded, seed=1)
    saved.save(tmp_path / "saved.json")
    now = run(embedded, seed=2)  # other samples: some answers change
    result = now.versus(tmp_path / "saved.json")
    table = result.scores
    assert list(table["variant"]) == ["temperature=0.2", "temperature=1.4"]
    assert set(table["score"]) == {"right capital"}
    for _, row in table.iterrows():
        assert row["low"] <= row["difference"] <= row["high"] and 0 <= row["p"] <= 1
        assert row["difference"] == pytest.approx(row["now"] - row["saved"])
        assert row["verdict"] in ("a real difference", "could be noise")
    # the answers that changed are the cells whose majority answer differs between the runs
    for _, row in result.changed.iterrows():
        assert row["saved"] != row["now"]
        cell = now.cells[(now.cells["variant"] == row["variant"])]
        assert row["now"] in [str(m).strip() for m in cell["majority"]]
    # against itself: nothing changed, no difference
    same = saved.versus(saved)
    assert same.changed.empty and (same.scores["difference"] == 0).all()
    assert "No answer changed" in same._repr_html_()


def test_a_saved_run_of_other_inputs_or_scorers_is_refused(embedded, tmp_path: Path) -> None:
    saved = run(embedded, seed=1)
    other_inputs = run(embedded, seed=1, table=TABLE.iloc[:2])
    with pytest.raises(InvalidParameterError, match="other inputs"):
        other_inputs.versus(saved)
    other_scores = run(embedded, seed=1, scored={"length": len})
    with pytest.raises(InvalidParameterError, match="scored by"):
        other_scores.versus(saved)

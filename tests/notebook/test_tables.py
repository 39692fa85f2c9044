"""The HTML tables read at a 1,400 px window: short headers that never break inside a word,
columns with nothing in them left out, model names as they are spelled, answers without the
blank lines a model put around them, and counts in words that agree."""

from __future__ import annotations

import re

import pandas as pd

from nbllm.notebook.display.html import results_html, wide_html


def frame(**extra: list) -> pd.DataFrame:
    rows = {
        "input": ["Name a colour.", "Name a fruit."],
        "generation_index": [0, 0],
        "generation": ["\n\nRed.\n", "Apple."],
        "model": ["gemma-3-270m-q4_k_m", "gemma-3-270m-q4_k_m"],
        "input_tokens": [5, 5],
        "output_tokens": [2, 2],
        "latency": [0.849882, 1.0],
        "tokens_per_second": [2.3532, 2.0],
        "cache_hit": [False, False],
        "recorded": [False, False],
        "error": [None, None],
    }
    return pd.DataFrame({**rows, **extra})


def headers(page: str) -> list[str]:
    return re.findall(r"<th(?: [^>]*)?>(.*?)</th>", page)


def test_results_leave_out_empty_columns_and_use_short_headers() -> None:
    page = results_html(frame())
    assert headers(page) == ["input", "sample", "generation", "model", "tokens · time"]
    assert "5 → 2 tokens<br>0.85 s · 2 tok/s" in page  # the numbers share one narrow column
    assert "<div>Red.</div>" in page  # the blank lines around the answer are not shown
    assert "0.85" in page and "1.00" in page and "0.849882" not in page
    # a column appears as soon as one row has something in it
    shown = headers(results_html(frame(cache_hit=[True, False], error=[None, "timed out"])))
    assert "cached" in shown and "error" in shown and "recorded" not in shown
    assert "<b>1 error</b>" in results_html(frame(error=[None, "timed out"]))


def test_wide_headers_keep_model_names_and_other_answers_agree() -> None:
    wide = pd.DataFrame({"input_index": [0], "input": ["Name a colour."], "gemma-3-270m-q4_k_m": ["\nRed."]})
    page = wide_html(wide, others={(0, "gemma-3-270m-q4_k_m"): [("Blue.", 1)]})
    assert headers(page) == ["input index", "input", "gemma-3-270m-q4_k_m"]
    assert "<td>Red.<details>" in page
    assert "<summary>1 other answer</summary>" in page
    two = wide_html(wide, others={(0, "gemma-3-270m-q4_k_m"): [("Blue.", 1), ("Green.", 1)]})
    assert "<summary>2 other answers</summary>" in two

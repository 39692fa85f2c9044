from __future__ import annotations

import html

import pytest
from traitlets.config import Config

import nbllm
from nbllm.generators import AsyncGenerator, Generator, Job
from tests.scripted import ScriptedLLM

pytestmark = pytest.mark.slow


def test_compare_parameter_sets_gives_a_wide_frame_and_a_plot(embedded) -> None:
    comparison = nbllm.compare(
        ["Name a fruit.", "Name a city."],
        params=[{"temperature": 0.0}, {"temperature": 1.2}],
        llm=embedded,
        num_generations=2,
    )
    wide, figure = comparison
    assert list(wide.columns[-2:]) == ["temperature=0.0", "temperature=1.2"]
    assert len(wide) == 2 and wide["temperature=0.0"].notna().all()  # a cell's samples summarised
    assert len(comparison.long) == 8 and set(comparison.long["generation_index"]) == {0, 1}
    assert wide.columns.name is None  # no "variant" heading over the index
    # what varies with temperature: answer length and agreement between the two samples
    assert [ax.get_title() for ax in figure.axes] == ["Answer length", "Agreement between samples"]
    agreement = [bar.get_height() for bar in figure.axes[1].patches]
    assert agreement[0] == 1.0  # greedy: both samples agree
    page = comparison._repr_html_()
    assert "<img" in page and "Compared on SmolLM2-135M-Instruct" in page
    assert "text-overflow" not in page and "white-space:pre-wrap" in page  # answers wrap, in full
    unfolded = page.replace("… <i>show all</i></summary>", "")  # a long answer, opened
    # every answer readable: a cell's most common answer, the others folded under it
    assert all(answer in unfolded for answer in comparison.long["generation"].map(html.escape))


def test_compare_takes_shared_options_and_names_the_default_llm() -> None:
    shared = ScriptedLLM(cache=False)
    comparison = nbllm.compare(["x"], params=[{"temperature": 0.0}, {"temperature": 0.5, "max_tokens": 3}],
                               llm=shared, max_tokens=30, seed=1)  # fmt: skip
    sent = [request.params for request in shared.requests]
    assert sorted((p["temperature"], p["max_tokens"], p["seed"]) for p in sent) == [(0.0, 30, 1), (0.5, 3, 1)]
    assert comparison.options == {"max_tokens": 30, "seed": 1} and "shared options: max_tokens=30" in (
        comparison.caption
    )
    with pytest.raises(nbllm.InvalidParameterError, match="max_tokens"):
        nbllm.compare(["x"], params=[{}], llm=shared, max_tokens=-1)


def test_long_answers_fold_behind_show_all() -> None:
    import pandas as pd

    from nbllm.notebook.display.html import wide_html

    long = "word " * 200
    page = wide_html(pd.DataFrame({"input": ["q"], "a": [long], "b": ["short"]}))
    assert "<details>" in page and "show all" in page and page.count("word") == 200


def test_compare_llms_and_generators(tmp_path) -> None:
    a, b = ScriptedLLM(cache=False), ScriptedLLM(cache=False)
    wide, _ = nbllm.compare(["x"], llms=[a, b])
    assert list(wide.columns[-2:]) == ["scripted", "scripted #2"]
    job = Job(instruction="i", template="{q}")
    wide, _ = nbllm.compare(["x", "y"], generators=[Generator(job, a), AsyncGenerator(job, b)])
    assert {"Generator", "AsyncGenerator"} <= set(wide.columns)
    with pytest.raises(nbllm.UsageError, match="exactly one"):
        nbllm.compare(["x"], llms=[a], params=[{}])


def test_cell_magic_sends_the_cell_to_the_llm() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance(config=Config({"HistoryManager": {"enabled": False}}))
    ip.run_line_magic("load_ext", "nbllm")
    ip.user_ns["mine"] = nbllm.LlamaCppLLM(cache=False)
    ip.run_line_magic("nbllm_use", "mine")
    answer = ip.run_cell_magic("nbllm", "--max-tokens 8 --temperature 0", "Say hello.")
    assert isinstance(answer, str) and answer.strip()
    assert ip.user_ns["mine"].last_generation.stats.output_tokens <= 8

"""DataFrames, plots and HTML display of real results from the embedded model."""

from __future__ import annotations

import html

import pytest
from matplotlib.figure import Figure

import nbllm
from nbllm.generators import AsyncGenerator, Job, MajorVoteGenerator, Sampler
from tests.scripted import ScriptedLLM

pytestmark = pytest.mark.slow

JOB = Job(instruction="Answer briefly.", template="{q}", params={"max_tokens": 12})


@pytest.fixture(scope="module")
def outputs():
    llm = nbllm.LlamaCppLLM(cache=False)
    return llm.generate(["Name a fruit.", "Name a city."], num_generations=2, temperature=0.7, max_tokens=12)


def test_generate_outputs_to_dataframe(outputs) -> None:
    frame = nbllm.to_dataframe(outputs)
    assert len(frame) == 4 and frame.equals(outputs.to_dataframe())
    assert list(frame["input"]) == ["Name a fruit.", "Name a fruit.", "Name a city.", "Name a city."]
    assert list(frame["generation_index"]) == [0, 1, 0, 1]
    assert (frame["model"] == "SmolLM2-135M-Instruct").all()
    assert (frame["temperature"] == 0.7).all() and (frame["max_tokens"] == 12).all()
    assert (frame["output_tokens"] > 0).all() and (frame["tokens_per_second"] > 0).all()
    assert frame["error"].isna().all() and not frame["cache_hit"].any()
    assert list(frame["generation"]) == [g.text for o in outputs for g in o.generations]


def test_failed_rows_have_their_error(scripted: ScriptedLLM) -> None:
    scripted.concurrency = 1
    scripted.enqueue("ok", nbllm.ModelNotFoundError("nope"))
    frame = nbllm.to_dataframe(scripted.generate(["a", "b"]))
    assert frame["error"].isna().tolist() == [True, False]
    assert "ModelNotFoundError: nope" in frame["error"].tolist()[1]


def test_generator_and_sampler_results_to_dataframe(scripted: ScriptedLLM) -> None:
    runs = AsyncGenerator(JOB, scripted, num_runs=2).generate(["x", "y"])
    frame = nbllm.to_dataframe(runs)
    assert list(frame["input_index"]) == [0, 0, 1, 1] and set(frame["generator"]) == {"AsyncGenerator"}
    sampled = nbllm.to_dataframe(Sampler(scripted, temperature=[0.1, 0.9]).run(["x", "y"]))
    assert list(sampled["variant"]) == ["temperature=0.1"] * 2 + ["temperature=0.9"] * 2
    wide = nbllm.to_wide(sampled)
    assert list(wide.columns[-2:]) == ["temperature=0.1", "temperature=0.9"] and len(wide) == 2
    vote = MajorVoteGenerator(JOB, scripted, num_votes=3).generate("z")
    assert "reliability" in nbllm.to_dataframe(vote)["generator"][0]


def test_plots_return_figures_and_draw_on_a_given_ax(outputs) -> None:
    for plot in (nbllm.plot_tokens, nbllm.plot_latency, nbllm.plot_tokens_per_second):
        figure = plot(outputs)
        assert isinstance(figure, Figure) and figure.axes[0].get_title()
    mine = Figure()
    ax = mine.add_subplot()
    assert nbllm.plot_tokens(outputs, ax=ax) is mine
    bars = [p for p in ax.patches]
    assert len(bars) == 8  # input and output bars for four generations
    assert ax.get_ylabel() == "tokens"


def test_html_display_is_readable(outputs) -> None:
    page = outputs._repr_html_()
    assert "<table" in page and "4</b> generations" in page
    for o in outputs:
        for g in o.generations:
            assert html.escape(g.text.split()[0]) in page
    assert "max-height" in page  # long texts scroll inside their cell
    assert outputs[0]._repr_html_().count("<tr>") == 3  # header row and two generations


def test_frames_label_rows_and_drop_empty_columns() -> None:
    from nbllm.generators import ExampleGenerator, JobSettings, MultiThreadingAsyncGenerator

    llm = ScriptedLLM(cache=False, delay=0.01)
    job = Job(instruction="Answer.", template="{q}")
    variants = [JobSettings(name="short", params={"max_tokens": 8}), JobSettings(name="long")]
    frame = nbllm.to_dataframe(
        MultiThreadingAsyncGenerator(job, llm, job_settings=variants).generate([{"q": "a"}])
    )
    assert set(frame["generator"]) == {"MultiThreadingAsyncGenerator"}  # not the inner sequential one
    assert list(frame["variant"]) == ["short", "long"]

    votes = MajorVoteGenerator(job, llm, num_votes=3).generate([{"q": "b"}])
    vote_frame = nbllm.to_dataframe(votes)
    assert vote_frame["tokens_per_second"].notna().all() and (vote_frame["tokens_per_second"] > 0).all()

    llm.enqueue('{"q": "what is 2+2"}', '{"q": "what is 3+3"}', "4", "4", "4", "6", "6", "6")
    examples = ExampleGenerator(Job(instruction="Answer.", template="{q}"), llm, num_votes=3).generate(2)
    example_frame = nbllm.to_dataframe(examples)
    empty = [c for c in example_frame.columns if example_frame[c].isna().all()]
    assert empty in ([], ["error"]), empty  # no column is all None but the error column
    assert "generations" in nbllm.show(examples).data  # a table without token columns renders too


def test_html_text_cells_are_left_aligned_prose() -> None:
    llm = ScriptedLLM(cache=False)
    llm.enqueue("line one\nline two")
    page = llm.generate("a question with several words")._repr_html_()
    assert 'class="text generation"' in page and 'class="text input"' in page
    assert "text-align:left" in page and "white-space:pre-wrap" in page and "line one\nline two" in page


def test_speed_plot_of_cached_rows_shows_what_is_meaningful(outputs) -> None:
    frame = nbllm.to_dataframe(outputs)
    frame["variant"] = ["a", "a", "b", "b"]
    cached = frame.assign(cache_hit=True)
    ax = nbllm.plot_tokens_per_second(cached, by="variant").axes[0]
    assert "all from the cache" in ax.get_title() and ax.get_ylabel() == "output tokens"
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == [frame["output_tokens"][:2].mean(), frame["output_tokens"][2:].mean()]
    assert all(h > 0 for h in heights)
    # one group cached, one generated: the cached one says so instead of an empty bar
    half = frame.assign(cache_hit=[True, True, False, False])
    ax = nbllm.plot_tokens_per_second(half, by="variant").axes[0]
    assert ax.get_ylabel() == "tokens / second"
    assert [t.get_text() for t in ax.texts] == ["all cached"]
    assert ax.patches[1].get_height() > 0

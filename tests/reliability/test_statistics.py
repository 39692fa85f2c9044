"""Statistics that add up, against a real server on 127.0.0.1: a prompt billed once is counted
once however many samples one request made, token counts nbllm divided itself say they are
estimates, and failed rows do not count as slow ones."""

from __future__ import annotations

import pytest

import nbllm
from nbllm.generators import Job, MajorVoteGenerator

pytestmark = pytest.mark.slow


def test_one_request_with_three_choices_counts_its_prompt_once(faults) -> None:
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False)
    (output,) = llm.generate("Name a colour.", num_generations=3)
    assert len(faults.stats()["arrivals"]["Name a colour."]) == 1  # one request, three choices
    stats = [g.stats for g in output.generations]
    assert [s.input_tokens for s in stats] == [5, 0, 0]  # the server billed 5 prompt tokens
    assert sum(s.output_tokens for s in stats) == 3 * 3 + 2 * 3  # the usage's completion tokens
    assert len({s.output_tokens for s in stats}) == 3  # shared by length, not equally
    assert all(s.tokens_estimated for s in stats)  # nbllm divided them: an estimate
    assert all(
        any("prompt tokens are counted on the first" in n for n in g.notes) for g in output.generations
    )
    frame = output.to_dataframe()
    assert frame["input_tokens"].sum() == 5 and frame["tokens_estimated"].all()


def test_a_vote_row_counts_the_prompt_once(faults) -> None:
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False)
    job = Job(instruction="Answer.", template="{q}")
    vote = MajorVoteGenerator(job, llm, num_votes=3, temperature=1.0).generate({"q": "Name a fruit."})
    (row,) = nbllm.to_dataframe(vote).itertuples()
    assert len(faults.stats()["arrivals"]["Name a fruit."]) == 1  # three votes, one request
    assert len(vote.candidates) == 3
    assert row.input_tokens == 5 and row.tokens_estimated


def test_failed_rows_are_left_out_of_the_speed_plot(faults) -> None:
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False, max_retries=0)
    outputs = llm.generate(["fast one", "fast two", "faults=400|broken", "faults=400|broken too"])
    frame = outputs.to_dataframe()
    frame["variant"] = ["ok", "mixed", "mixed", "failed"]
    assert frame["error"].notna().sum() == 2
    ax = nbllm.plot_tokens_per_second(frame, by="variant").axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    # the mixed group's speed is its one good row's, not dragged down by a failed row's zero
    assert heights[1] == pytest.approx(frame["tokens_per_second"][1])
    assert heights[2] == 0 and [t.get_text() for t in ax.texts] == ["all failed"]

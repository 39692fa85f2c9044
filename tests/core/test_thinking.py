"""Thinking kept apart from the answer: an inline <think> block split off whole and streamed."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from nbllm.core.thinking import ThinkingSplitter, split_thinking


def streamed(text: str, cuts: list[int]) -> tuple[str, str]:
    """The answer and thinking a splitter gives for `text` cut at `cuts`."""
    splitter = ThinkingSplitter()
    answer = thinking = ""
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    for start, end in itertools.pairwise(bounds):
        a, t = splitter.feed(text[start:end])
        answer, thinking = answer + a, thinking + t
    a, t = splitter.close()
    return answer + a, thinking + t


def test_a_leading_block_is_thinking_and_the_rest_the_answer() -> None:
    assert split_thinking("<think>\nThe capital is Paris.\n</think>\n\nParis") == (
        "Paris",
        "The capital is Paris.",
    )


def test_text_without_a_block_is_all_answer() -> None:
    assert split_thinking("Paris <think> is not thinking here") == (
        "Paris <think> is not thinking here",
        None,
    )
    assert split_thinking("") == ("", None)


def test_a_block_cut_by_the_length_is_all_thinking() -> None:
    assert split_thinking("<think>still going") == ("", "still going")


def test_a_close_tag_without_an_opening_one_stays_in_the_answer() -> None:
    # a server's reasoning parser handles a template that opened the block; text alone cannot tell
    assert split_thinking("hmm</think>Paris") == ("hmm</think>Paris", None)


def test_a_held_start_that_never_becomes_a_tag_is_answer() -> None:
    assert streamed("<thi", []) == ("<thi", "")
    assert split_thinking("<thi") == ("<thi", None)


@given(
    st.text(alphabet="ab <>/thinkTHINK\n", max_size=30),
    st.text(alphabet="ab <>/thinkTHINK\n", max_size=30),
    st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_a_stream_cut_anywhere_splits_as_the_whole_text(thinking: str, answer: str, cuts: list[int]) -> None:
    text = f"<think>{thinking}</think>\n\n{answer}"
    whole_answer, whole_thinking = split_thinking(text)
    got_answer, got_thinking = streamed(text, cuts)
    assert got_answer == whole_answer
    assert got_thinking.strip() == (whole_thinking or "")


@given(st.text(max_size=40), st.lists(st.integers(min_value=0, max_value=100), max_size=6))
def test_any_text_streams_to_what_split_thinking_gives(text: str, cuts: list[int]) -> None:
    answer, thinking = split_thinking(text)
    got_answer, got_thinking = streamed(text, cuts)
    assert got_answer == answer
    assert got_thinking.strip() == (thinking or "")

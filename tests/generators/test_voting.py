"""Vote counting and pool splitting: pure logic."""

from __future__ import annotations

import random

import pytest
from pydantic import BaseModel

from nbllm.generators import split_generations
from nbllm.generators.voting import tally, vote_key


class Answer(BaseModel):
    label: str
    reasoning: str


def test_reasoning_fields_are_left_out_of_the_comparison() -> None:
    assert vote_key(Answer(label="Yes", reasoning="because")) == vote_key(
        Answer(label="yes", reasoning="other")
    )
    assert vote_key({"label": "a"}) != vote_key({"label": "b"})


def test_free_text_is_normalised() -> None:
    assert vote_key("  Paris. ") == vote_key("paris") == vote_key("PARIS!")
    assert vote_key("Paris") != vote_key("Lyon")


def test_tally_counts_and_ignores_failed_runs() -> None:
    t = tally(["a", "b", None, "a", "c"])
    assert t.counts == {"a": 2, "b": 1, "c": 1}
    assert t.leader == "a" and t.leader_votes == 2 and t.has_majority
    assert not tally(["a", "b", "c"]).has_majority
    assert tally([None, None]).leader is None


def test_ties_go_to_the_earliest_answer() -> None:
    assert tally(["b", "a", "a", "b"]).leader == "b"


@pytest.mark.parametrize(
    ("n", "k", "expected_counts"),
    [(1, 3, [1, 0, 0]), (3, 3, [1, 1, 1]), (7, 3, [3, 2, 2]), (6, 4, [2, 2, 1, 1])],
)
def test_split_generations_follows_the_pool_rule(n: int, k: int, expected_counts: list[int]) -> None:
    for seed in range(20):
        counts = split_generations(n, k, random.Random(seed))
        assert sum(counts) == n and sorted(counts, reverse=True) == expected_counts


def test_split_chooses_at_random() -> None:
    chosen = {tuple(split_generations(1, 3, random.Random(seed))) for seed in range(30)}
    assert len(chosen) == 3  # each LLM gets the single generation sometimes

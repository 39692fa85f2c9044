"""The arena: votes kept by SQLite with two processes voting at once, the Bradley-Terry ranking
on votes with a known order, and a round on the embedded model driven from code."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import nbllm
from nbllm.notebook.arena.votes import Vote, VoteStore, ranking, win_rates
from tests.scripted import ScriptedLLM

VOTER = """
import sys
from nbllm.notebook.arena.votes import Vote, VoteStore
store = VoteStore(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # both voters start together
for i in range(150):
    store.add(Vote(f"prompt {i}", "x", "y", "A" if i % 2 else "B", voter=sys.argv[2]))
"""


def test_two_kernels_voting_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "votes.sqlite3"
    voters = [
        subprocess.Popen(
            [sys.executable, "-c", VOTER, str(path), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    try:
        for voter in voters:
            assert voter.stdout.readline().strip() == "ready"
        for voter in voters:
            voter.stdin.write("go\n")
            voter.stdin.flush()
        for voter in voters:
            assert voter.wait(timeout=120) == 0
    finally:
        for voter in voters:
            voter.kill()
    votes = VoteStore(path).votes()
    assert len(votes) == 300
    assert sorted((v.voter, v.prompt) for v in votes) == sorted(
        (name, f"prompt {i}") for name in ("left", "right") for i in range(150)
    )


def _votes(pairs: list[tuple[str, str, str]], times: int) -> list[Vote]:
    return [Vote(f"p{i}", a, b, winner) for i in range(times) for a, b, winner in pairs]


def test_the_ranking_follows_who_beats_whom() -> None:
    votes = _votes([("x", "y", "A"), ("y", "z", "A"), ("z", "x", "B"), ("y", "x", "B")], 10)
    votes += _votes([("x", "z", "both_bad")], 3)
    table = ranking(votes, ["z", "y", "x"], resamples=100)
    assert list(table.columns) == ["contender", "score", "low", "high", "wins", "votes"]
    assert table["contender"].tolist() == ["x", "y", "z"]  # x beat both every time, y beat z
    assert (table["low"] <= table["score"]).all() and (table["score"] <= table["high"]).all()
    counts = table.set_index("contender")
    assert counts.loc["x", "wins"] == 30 and counts.loc["x", "votes"] == 33
    assert counts.loc["z", "wins"] == 0 and counts.loc["z", "votes"] == 23
    assert counts.loc["x", "low"] > counts.loc["z", "high"]  # a clear gap, beyond the intervals
    rates = win_rates(votes, ["x", "y", "z"])
    assert (
        rates.loc["x", "z"] == 1.0
        and rates.loc["x", "y"] == 1.0
        and rates.loc["y", "z"] == 1.0
        and rates.loc["z", "x"] == 0.0
    )


def test_ties_split_and_no_votes_rank_level() -> None:
    level = ranking([], ["a", "b"], resamples=10)
    assert level["score"].isna().all() and level["votes"].tolist() == [0, 0]  # nobody voted: no score
    tied = ranking(_votes([("a", "b", "tie")], 8), ["a", "b"], resamples=50)
    assert tied["score"].iloc[0] == tied["score"].iloc[1] == 1000
    # eight ties are not certainty: each contender's interval has width, and it holds the score
    assert ((tied["high"] - tied["low"]) >= 20).all(), tied
    assert ((tied["low"] < tied["score"]) & (tied["score"] < tied["high"])).all(), tied
    # more ties, more certainty: the interval narrows
    many = ranking(_votes([("a", "b", "tie")], 200), ["a", "b"], resamples=50)
    assert (many["high"] - many["low"]).max() < (tied["high"] - tied["low"]).min(), (many, tied)


def test_votes_that_all_agree_still_leave_doubt_and_scores_are_whole_points() -> None:
    table = ranking(_votes([("x", "y", "A")], 4), ["x", "y"], resamples=100).set_index("contender")
    assert table.loc["x", "high"] - table.loc["x", "low"] > 0, table
    assert table.loc["x", "low"] < table.loc["x", "score"], table
    assert str(table["score"].dtype) == "Int64" and str(table["low"].dtype) == "Int64"
    assert "." not in table.to_string()  # whole points: what people read is rounded


@pytest.mark.slow
def test_an_arena_round_on_the_embedded_model(tmp_path: Path) -> None:
    path = tmp_path / "class.sqlite3"
    arena = nbllm.Arena(
        {"careful": {"temperature": 0.0}, "wild": {"temperature": 1.6, "top_p": 1.0}},
        ["Name a colour.", "Name a fruit."],
        path=path, seed=3, max_tokens=12,
    )  # fmt: skip
    shown = arena.current
    assert {shown.a, shown.b} == {"careful", "wild"} and shown.answer_a and shown.answer_b
    assert "careful" not in arena.status.value and "wild" not in arena.status.value  # blind until the vote
    assert arena.view.answers == [shown.answer_a, shown.answer_b] and arena.view.round == 0
    assert "careful" not in arena.view.prompt + "".join(arena.view.answers)
    sent: list[set[str]] = []
    send_state = arena.view.send_state
    arena.view.send_state = lambda key=None: (sent.append(set(key or ())), send_state(key))
    revealed = arena.vote("A")
    # the decided pair stays on screen, named, with its round: the reveal never sits under the next pair
    assert sent == [{"revealed", "said"}], sent  # the pair on screen stays; its names arrive at once
    assert arena.view.round == 0 and arena.view.answers == [shown.answer_a, shown.answer_b]
    assert arena.view.revealed == [shown.a, shown.b] and arena.view.said == "A"
    assert revealed is shown and "careful" in arena.status.value and "wild" in arena.status.value
    arena._from_browser({"vote": "B", "round": 0})  # a click on the pair already voted on
    assert len(VoteStore(path).votes()) == 1 and "not counted" in arena.status.value
    sent.clear()
    arena._from_browser({"next": 0})  # "Next pair": the next pair, blind, with no reveal beside it
    assert len(sent) == 1 and {"answers", "round", "revealed"} <= sent[0], sent  # in one message
    assert arena.view.round == 1 and arena.view.revealed == [] and arena.view.said == ""
    assert arena.view.answers == [arena.current.answer_a, arena.current.answer_b]
    assert "careful" not in arena.status.value and "wild" not in arena.status.value
    arena._from_browser({"next": 1})  # a second "next" skips nothing
    assert arena.view.round == 1
    arena._from_browser({"vote": "B", "round": 1})  # a click on the pair on screen counts
    assert [v.winner for v in VoteStore(path).votes()] == ["A", "B"] and arena.view.revealed
    pending = arena.current
    assert arena.vote("tie") is pending  # from code, on the pair being judged, revealed or not
    arena.vote("both bad")
    votes = VoteStore(path).votes()
    assert [v.winner for v in votes] == ["A", "B", "tie", "both_bad"] and votes[0].a == shown.a
    table = arena.ranking(resamples=20)
    assert set(table["contender"]) == {"careful", "wild"} and table["votes"].sum() == 8
    figure = arena.plot_ranking()
    assert len(figure.axes) >= 2
    with pytest.raises(nbllm.InvalidParameterError, match="vote 'A', 'B', 'tie' or 'both_bad'"):
        arena.vote("C")
    with pytest.raises(nbllm.InvalidParameterError, match="temperature"):
        nbllm.Arena({"hot": {"temperature": 9}, "cold": {}}, ["x"], path=path)
    with pytest.raises(nbllm.InvalidParameterError, match="at least two contenders") as info:
        nbllm.Arena([{"temperature": 0.0}], ["x"], path=path)
    assert info.value.field == "contenders"


def test_few_votes_give_a_modest_gap_and_an_unvoted_contender_no_score() -> None:
    table = ranking(_votes([("x", "y", "A")], 3), ["x", "y", "z"], resamples=50).set_index("contender")
    assert 0 < table.loc["x", "score"] - table.loc["y", "score"] < 500  # three votes: no landslide
    assert pd.isna(table.loc["z", "score"]) and table.loc["z", "votes"] == 0


@pytest.mark.slow
def test_votes_count_only_for_what_was_really_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBLLM_CACHE_DIR", str(tmp_path / "cache"))
    base = nbllm.LlamaCppLLM(cache=False)
    hot, cold = base.model_copy(update={"temperature": 1.2}), base.model_copy(update={"temperature": 0.1})
    first = nbllm.Arena([hot, cold], ["Name a colour."], seed=1, max_tokens=6)
    for _ in range(3):
        first.vote("A")
    assert len(first.votes()) == 3 and first.other_votes() == 0
    # the same display names, other settings: its own file, and none of the first arena's votes
    cooler = base.model_copy(update={"temperature": 0.5})
    second = nbllm.Arena([cooler, hot], ["Name a fruit."], seed=1, max_tokens=6)
    assert second.store.path != first.store.path
    assert second.votes() == [] and second.ranking(resamples=5)["votes"].sum() == 0
    # one shared file: each arena counts its own contenders' votes, and says what it left out
    shared = tmp_path / "class.sqlite3"
    a = nbllm.Arena([hot, cold], ["Name a colour."], path=shared, seed=1, max_tokens=6)
    a.vote("B")
    b = nbllm.Arena([cooler, hot], ["Name a colour."], path=shared, seed=1, max_tokens=6)
    assert b.votes() == [] and b.other_votes() == 1
    assert "1 other votes" in b.status.value and "not counted" in b.status.value
    b.vote("A")
    assert len(a.votes()) == 1 and len(b.votes()) == 1
    names = {v.a for v in b.votes()} | {v.b for v in b.votes()}
    assert names <= set(b.contenders)
    # a relative path stays where it was made, whatever the working folder becomes
    monkeypatch.chdir(tmp_path)
    here = nbllm.Arena([hot, cold], ["Name a colour."], path="votes.sqlite3", seed=1, max_tokens=6)
    monkeypatch.chdir("/")
    here.vote("A")
    assert (tmp_path / "votes.sqlite3").exists() and len(here.votes()) == 1


class _Failing:
    """A contender whose every answer fails (a persistent 429, say)."""

    model_name = "always-429"

    def generate(self, inputs, **options):
        raise nbllm.TransientBackendError("429 Too Many Requests")


@pytest.mark.slow
def test_a_contender_that_gave_no_answer_is_never_voted_on(tmp_path: Path) -> None:
    arena = nbllm.Arena([nbllm.LlamaCppLLM(cache=False), _Failing()], ["Name a colour."],
                        path=tmp_path / "v.sqlite3", seed=2, max_tokens=6)  # fmt: skip
    assert arena.current.failed and "429" in arena.current.failed and len(arena.skipped) >= 2
    assert not arena.view.votable and "No vote on this pair" in arena.status.value
    skipped = arena.vote("A")  # not a vote: the next pair is drawn
    assert skipped.failed and arena.view.round == 1 and "skipped, not voted on" in arena.status.value
    arena._from_browser({"vote": "B", "round": 1})  # the skip button (or a key) counts for nothing either
    assert VoteStore(tmp_path / "v.sqlite3").votes() == [] and arena.view.round == 2


def test_an_arena_counts_only_the_votes_on_its_own_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBLLM_CACHE_DIR", str(tmp_path / "cache"))
    contenders, llm = {"careful": {"temperature": 0.3}, "wild": {"temperature": 1.2}}, ScriptedLLM()
    colour = nbllm.Arena(contenders, ["Name a colour."], llm=llm, seed=0)
    colour.vote("A")
    colour.next()
    colour.vote("B")
    fruit = nbllm.Arena(contenders, ["Name a fruit."], llm=llm, seed=0)  # the same contenders
    assert fruit.store.path != colour.store.path
    assert fruit.votes() == [] and fruit.ranking(resamples=5)["votes"].sum() == 0
    # one file for both: each arena counts its own prompt's votes, and says what it left out
    shared = tmp_path / "shared.sqlite3"
    nbllm.Arena(contenders, ["Name a colour."], llm=llm, path=shared, seed=0).vote("A")
    both = nbllm.Arena(contenders, ["Name a fruit."], llm=llm, path=shared, seed=0)
    assert both.votes() == [] and both.other_votes() == 1 and both.ranking(resamples=5)["votes"].sum() == 0
    assert "other contenders or prompts" in both.status.value
    # a default file named (as before) by the contenders alone is still read, by its prompts
    ids = sorted(colour.ids.values())
    older = (
        tmp_path
        / "cache"
        / "arena"
        / f"{hashlib.sha256(chr(10).join(ids).encode()).hexdigest()[:16]}.sqlite3"
    )
    VoteStore(older).add(Vote("Name a city.", "careful", "wild", "A", a_id=colour.ids["careful"],
                              b_id=colour.ids["wild"]))  # fmt: skip
    VoteStore(older).add(Vote("Name a tree.", "careful", "wild", "B", a_id=colour.ids["careful"],
                              b_id=colour.ids["wild"]))  # fmt: skip
    city = nbllm.Arena(contenders, ["Name a city."], llm=llm, seed=0)
    assert city.store.path == older
    assert [v.prompt for v in city.votes()] == ["Name a city."] and city.other_votes() == 1
    assert city.ranking(resamples=5).set_index("contender").loc["careful", "wins"] == 1

"""The chunk scheduler's rules, with stand-in members (pure logic; the real thing is test_ray.py)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from nbllm.core.outputs import GenerateOutput, Generation
from nbllm.errors import InvalidInputError, WorkerDiedError
from nbllm.scale.chunks import run_chunks


class Member:
    """Answers each prompt with its own text; dies after `lives` chunks; refuses prompts 'bad'."""

    def __init__(self, name: str, lives: int = 10**6) -> None:
        self.name, self.lives, self.seen = name, lives, []

    def generate(self, prompts: list[str], n: int, **params: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.seen.append(list(prompts))
        if self.lives <= 0:
            future.set_exception(WorkerDiedError("gone"))
        elif "bad" in prompts:
            future.set_exception(InvalidInputError("bad prompt"))
        else:
            self.lives -= 1
            future.set_result([GenerateOutput(self.name, [Generation(p, sample_index=0)]) for p in prompts])
        return future


def test_a_dead_members_chunk_is_rescheduled_once_and_nothing_is_lost() -> None:
    prompts = [f"p{i}" for i in range(9)]
    dying, steady = Member("dying", lives=1), Member("steady")
    outputs = run_chunks([dying, steady], prompts, 2, 1, {})
    assert [o.texts[0] for o in outputs] == prompts
    answered = [p for o in outputs for p in o.texts]
    assert len(answered) == len(set(answered)) == 9
    assert dying.seen[1] in steady.seen  # the chunk the dead member held went to the other one


def test_a_refused_chunk_is_split_so_only_the_bad_row_fails() -> None:
    outputs = run_chunks([Member("m")], ["a", "bad", "c", "d"], 4, 1, {})
    assert [o.texts[0] for o in outputs] == ["a", None, "c", "d"]
    assert isinstance(outputs[1].generations[0].error, InvalidInputError)
    assert outputs[1].input[-1]["content"] == "bad"


def test_when_every_member_died_the_rest_fail_with_a_clear_error() -> None:
    outputs = run_chunks([Member("m", lives=1)], ["a", "b", "c"], 1, 2, {})
    assert outputs[0].texts[0] == "a"
    assert all(isinstance(g.error, WorkerDiedError) for o in outputs[1:] for g in o.generations)
    assert [len(o.generations) for o in outputs[1:]] == [2, 2]

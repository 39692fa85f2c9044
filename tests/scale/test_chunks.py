"""The chunk scheduler's rules, with stand-in members (pure logic; the real thing is test_ray.py)."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from nbllm.core.outputs import GenerateOutput, Generation
from nbllm.errors import InvalidInputError, WorkerDiedError, WorkerLoadError
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


class Restartable(Member):
    """A member whose worker dies on any chunk holding 'poison', and comes back on restart()."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.deaths = 0

    def generate(self, prompts: list[str], n: int, **params: Any) -> concurrent.futures.Future[Any]:
        if "poison" not in prompts:
            return super().generate(prompts, n, **params)
        self.seen.append(list(prompts))
        self.deaths += 1
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_exception(WorkerDiedError("killed by SIGSEGV"))
        return future

    def restart(self) -> bool:
        return True


def test_a_poison_row_is_found_and_alone_gets_the_error() -> None:
    prompts = [f"p{i}" for i in range(8)]
    prompts[5] = "poison"
    members = [Restartable("a"), Restartable("b")]
    outputs = run_chunks(members, prompts, 4, 1, {})
    assert [o.texts[0] for o in outputs] == [*prompts[:5], None, *prompts[6:]]
    error = outputs[5].generations[0].error
    assert isinstance(error, WorkerDiedError) and "killed its worker 2 times" in str(error)
    # twice as a chunk (chance is given one retry), then twice alone: never more
    assert sum(m.deaths for m in members) == 4


def test_a_member_that_cannot_load_is_not_restarted_and_blames_no_row() -> None:
    class Broken(Restartable):
        def generate(self, prompts: list[str], n: int, **params: Any) -> concurrent.futures.Future[Any]:
            self.deaths += 1
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_exception(WorkerLoadError("the child could not load its LLM: no such file"))
            return future

    broken, steady = Broken("broken"), Member("steady")
    outputs = run_chunks([broken, steady], [f"p{i}" for i in range(6)], 2, 1, {})
    assert [o.texts[0] for o in outputs] == [f"p{i}" for i in range(6)]
    assert broken.deaths == 1
    alone = run_chunks([Broken("only")], ["p0", "p1"], 1, 1, {})
    assert all("could not load" in str(o.generations[0].error) for o in alone)

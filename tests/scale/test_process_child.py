"""A ProcessLLM's child survives the caller's mistakes: a generator factory that raises fails
its own call with its message, and the child (with its loaded LLM) carries on."""

from __future__ import annotations

import pytest

import nbllm
from tests.scripted import ScriptedLLM

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _load_scripted() -> ScriptedLLM:
    return ScriptedLLM(cache=False)


def _broken_factory(llm):
    raise ValueError("no generator today: a typo in the job")


def test_a_generator_factory_that_raises_fails_its_call_and_not_the_child() -> None:
    with nbllm.ProcessLLM(_load_scripted) as member:
        pid = member.model_name and member.pid
        future = member.run_generator(_broken_factory, ["a", "b"])
        with pytest.raises(nbllm.UsageError, match="ValueError: no generator today: a typo in the job"):
            future.result(timeout=60)
        assert member.is_alive and member.pid == pid
        (after,) = member.generate(["still there?"]).result(timeout=60)
        assert after.generations[0].ok


def test_a_table_with_a_broken_generator_factory_restarts_nothing() -> None:
    import pandas as pd

    member = nbllm.ProcessLLM(_load_scripted)
    pool = nbllm.LLMPool([member])
    try:
        frame = pd.DataFrame({"prompt": ["one", "two", "three"]})
        table = pool.generate_frame(frame, generator=_broken_factory, progress=False)
        assert len(table) == 3 and table["error"].str.contains("no generator today").all()
        assert member.restarts == 0 and member.is_alive
    finally:
        pool.teardown()

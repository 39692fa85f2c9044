"""A cancelled pool call stops its work in the child: a request already running there is
stopped (its backend requests aborted) and one still queued is never run, so the member is free
for the next call at once instead of after minutes of answers nobody will read."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

import nbllm
from tests.scripted import ScriptedLLM

pytestmark = [pytest.mark.timeout(180)]


class _Marked(ScriptedLLM):
    """A backend whose request for "slow <file>" writes that file when it starts (the test's
    readiness signal), then takes ten minutes; any other request answers at once."""

    async def _agenerate_raw(self, request):
        text = request.messages[-1]["content"] if request.messages else request.prompt
        if text.startswith("slow "):
            with open(text.split(" ", 1)[1], "a") as marker:
                marker.write(f"{os.getpid()}\n")
            await asyncio.sleep(600)
        return await super()._agenerate_raw(request)


def _load_marked():
    return _Marked(cache=False)


def _wait_for(path: Path, starts: int = 1, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().split()) < starts:
        assert time.monotonic() < deadline, f"the child never started the request ({path.name})"
        time.sleep(0.05)


def test_a_cancelled_call_stops_in_the_child_and_the_next_one_runs_at_once(tmp_path: Path) -> None:
    with nbllm.ProcessLLM(_load_marked) as member:
        assert member.model_name
        running = member.generate([f"slow {tmp_path / 'first'}"])
        queued = member.generate([f"slow {tmp_path / 'second'}"])
        _wait_for(tmp_path / "first")  # the first request is running in the child
        assert running.cancel() and queued.cancel()
        started = time.monotonic()
        (answer,) = member.generate(["quick"]).result(timeout=60)
        assert answer.generations[0].ok and time.monotonic() - started < 30
        assert not (tmp_path / "second").exists(), "a cancelled request that had not started was run"
        assert member.is_alive


def test_a_cancelled_pool_call_frees_its_members(tmp_path: Path) -> None:
    members = [nbllm.ProcessLLM(_load_marked), nbllm.ProcessLLM(_load_marked)]
    pool = nbllm.LLMPool(members)
    try:
        future = pool.submit([f"slow {tmp_path / 'started'}"], num_generations=2)  # one sample each
        _wait_for(tmp_path / "started", starts=2)  # both members are running their share
        assert future.cancel()
        started = time.monotonic()
        for member in members:
            (answer,) = member.generate(["quick"]).result(timeout=60)
            assert answer.generations[0].ok
        assert time.monotonic() - started < 30
    finally:
        for member in members:
            member.teardown()

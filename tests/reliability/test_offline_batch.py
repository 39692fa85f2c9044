"""Offline batch generation against a local server implementing the OpenAI files and batches
endpoints: upload, job ids kept and resumable, polling, results mapped back in order."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbllm
from nbllm import BackendError, BatchNotFinishedError
from tests.conftest import free_port, stop_process, wait_http

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def batch_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "batch_server.py"), "--port", str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", timeout=30, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return json.loads(response.read())


def make(url: str, **config) -> nbllm.OpenAILLM:
    return nbllm.OpenAILLM(
        model="batch-model", base_url=f"{url}/v1", use_offline_batch_generation=True, **config
    )


def test_polling_returns_results_in_order_with_statistics(batch_server: str) -> None:
    llm = make(batch_server, offline_batch_generation_block_until_done=0.05)
    prompts = ["first", "second FAIL", "third"]
    outputs = llm.generate(prompts, num_generations=2, seed=7, max_tokens=20)
    assert [o.input[-1]["content"] for o in outputs] == prompts
    assert outputs[0].texts == ["batch answer to 'first' (seed 7)", "batch answer to 'first' (seed 8)"]
    assert outputs[2].generations[1].text == "batch answer to 'third' (seed 8)"
    assert (
        outputs[0].generations[0].stats.output_tokens > 0
        and outputs[0].generations[0].stats.input_tokens == 1
    )
    failed = outputs[1].generations
    assert all(
        g.text is None and isinstance(g.error, BackendError) and "refused on purpose" in str(g.error)
        for g in failed
    )
    seen = stats(batch_server)
    assert (
        seen["uploads"] == 1 and seen["batches"] == 1 and seen["retrieves"] == 3
    )  # validating -> in_progress -> finalizing -> completed
    assert llm.jobs_ids is None  # collected: the next call starts a new batch


def test_not_finished_raises_with_job_ids_and_a_later_call_resumes(batch_server: str) -> None:
    prompts = ["alpha", "beta"]
    llm = make(batch_server)
    with pytest.raises(BatchNotFinishedError) as info:
        llm.generate(prompts)
    job_ids = info.value.job_ids
    assert job_ids and llm.jobs_ids == job_ids
    assert any(state in str(info.value) for state in ("in_progress", "finalizing"))
    # a new LLM object (a restarted kernel) finds the job on disk and resumes it, no new upload
    again = make(batch_server)
    for _ in range(5):
        try:
            outputs = again.generate(prompts)
            break
        except BatchNotFinishedError as exc:
            assert exc.job_ids == job_ids
    else:
        pytest.fail("the batch never finished")
    assert [o.texts[0] for o in outputs] == [
        "batch answer to 'alpha' (seed None)",
        "batch answer to 'beta' (seed None)",
    ]
    assert stats(batch_server)["batches"] == 1 and stats(batch_server)["uploads"] == 1


def test_a_failed_batch_marks_every_row(batch_server: str, tmp_path: Path) -> None:
    llm = make(batch_server, offline_batch_generation_block_until_done=0.05)
    # a job id of a batch whose input file is not valid JSONL: the server fails it at validation
    import openai

    client = openai.OpenAI(base_url=f"{batch_server}/v1", api_key="x")
    bad = client.files.create(file=("bad.jsonl", b"not json"), purpose="batch")
    job = client.batches.create(
        input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    llm.jobs_ids = (job.id,)
    outputs = llm.generate(["x", "y"])
    assert all(
        isinstance(g.error, BackendError) and "ended as failed" in str(g.error)
        for o in outputs
        for g in o.generations
    )


def test_unfinished_jobs_never_answer_other_inputs(batch_server: str) -> None:
    llm = make(batch_server)
    with pytest.raises(BatchNotFinishedError) as first:
        llm.generate(["A"])
    # before: the saved job ids were reused, and A's answer came back labelled as B
    outputs = None
    for _ in range(6):
        try:
            outputs = llm.generate(["B", "C"])
            break
        except BatchNotFinishedError as exc:
            assert not set(exc.job_ids) & set(first.value.job_ids)
    assert outputs is not None, "the batch for B and C never finished"
    assert [o.texts[0] for o in outputs] == [
        "batch answer to 'B' (seed None)",
        "batch answer to 'C' (seed None)",
    ]
    for _ in range(6):  # A's own jobs still answer A
        try:
            (a,) = llm.generate(["A"])
            break
        except BatchNotFinishedError:
            pass
    assert a.texts == ["batch answer to 'A' (seed None)"]


def test_offline_results_go_through_the_engine(batch_server: str, tmp_path: Path) -> None:
    seen = []
    llm = make(
        batch_server, offline_batch_generation_block_until_done=0.05, cache_path=str(tmp_path / "c.sqlite3")
    )
    llm.budget = nbllm.Budget(price_per_input_token=1.0, price_per_output_token=1.0)
    llm.engine.listeners.append(lambda g: seen.append(g.text))
    outputs = llm.generate(["cached one", "cached two"], num_generations=2, seed=1)
    assert len(seen) == 4 and llm.budget.requests == 4 and llm.budget.cost > 0
    assert len(llm.engine.log.entries) == 4
    # the answers are in the cache: a live call (no batch) finds them, and so does a new batch
    live = nbllm.OpenAILLM(
        model="batch-model", base_url=f"{batch_server}/v1", cache_path=str(tmp_path / "c.sqlite3")
    )
    again = live.generate(["cached one", "cached two"], num_generations=2, seed=1)
    assert [o.texts for o in again] == [o.texts for o in outputs]
    assert all(g.stats.cache_hit for o in again for g in o.generations)
    before = stats(batch_server)["batches"]
    llm.generate(["cached one", "cached two", "new one"], num_generations=2, seed=1)
    assert stats(batch_server)["batches"] == before + 1  # only the missing input was submitted


def test_a_repeated_prompt_is_sent_once_and_both_rows_get_its_answer(batch_server: str) -> None:
    llm = make(batch_server, offline_batch_generation_block_until_done=0.05, cache=False)
    outputs = llm.generate(["same", "other", "same"], seed=3)
    assert [o.texts[0] for o in outputs] == [
        "batch answer to 'same' (seed 3)",
        "batch answer to 'other' (seed 3)",
        "batch answer to 'same' (seed 3)",
    ]
    seen = stats(batch_server)
    assert seen["lines"] == 2 and seen["batches"] == 1  # unique custom_ids: the batch was not refused
    assert "failed" not in seen["statuses"].values()


def test_an_expired_batch_keeps_its_answers_and_only_the_missing_rows_go_again(
    batch_server: str, tmp_path: Path
) -> None:
    llm = make(
        batch_server, offline_batch_generation_block_until_done=0.05, cache_path=str(tmp_path / "c.sqlite3")
    )
    prompts = ["one", "two EXPIRE", "three", "four EXPIRE"]
    first = llm.generate(prompts)
    assert list(stats(batch_server)["statuses"].values()) == ["expired"]
    assert first[0].texts == ["batch answer to 'one' (seed None)"]  # made before the end: kept
    assert first[2].texts == ["batch answer to 'three' (seed None)"]
    for row in (first[1], first[3]):
        (error,) = row.errors
        assert "completion window expired" in str(error) and "generate again" in str(error)
    assert stats(batch_server)["lines"] == 4
    second = llm.generate(prompts)
    assert [o.texts[0] for o in second] == [f"batch answer to {p!r} (seed None)" for p in prompts]
    assert stats(batch_server)["lines"] == 4 + 2  # only the two missing requests were sent again
    assert second[0].generations[0].stats.cache_hit


def test_the_budget_is_checked_before_a_batch_is_submitted(batch_server: str) -> None:
    llm = make(batch_server, offline_batch_generation_block_until_done=0.05, cache=False)
    # each request holds (prompt estimate + 20 output tokens) at 0.01 a token: about 0.25
    llm.budget = nbllm.Budget(price_per_input_token=0.01, price_per_output_token=0.01, max_cost=0.6)
    outputs = llm.generate(["first", "second", "third"], max_tokens=20)
    assert [o.texts[0] for o in outputs[:2]] == [
        "batch answer to 'first' (seed None)",
        "batch answer to 'second' (seed None)",
    ]
    (error,) = outputs[2].errors
    assert isinstance(error, nbllm.BudgetExceededError)
    assert stats(batch_server)["lines"] == 2  # the third was never submitted
    assert llm.budget.requests == 2 and llm.budget.reserved == 0 and llm.budget.cost <= 0.6
    nothing = make(batch_server, offline_batch_generation_block_until_done=0.05, cache=False)
    nothing.budget = nbllm.Budget(price_per_output_token=1.0, max_cost=1.0)
    (row,) = nothing.generate(["too dear"], max_tokens=20)
    assert isinstance(row.errors[0], nbllm.BudgetExceededError)
    assert stats(batch_server)["batches"] == 1  # nothing was uploaded for it

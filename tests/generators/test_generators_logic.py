"""Generator semantics on a scripted backend: ordering, alignment, errors kept, progress."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest

import nbllm
from nbllm import BackendError, InvalidInputError, UsageError
from nbllm.generators import (
    AsyncGenerator,
    Generator,
    Job,
    JobSettings,
    MajorVoteGenerator,
    MultiThreadingAsyncGenerator,
    Sampler,
    SequentialAsyncGenerator,
    SequentialAsyncGenerator2,
    grid,
    list_generators,
)
from tests.scripted import ScriptedLLM

JOB = Job(instruction="Classify the sentiment.", template="Review: {review}")


def test_registry_lists_every_generator_with_a_description() -> None:
    names = list_generators()
    for name in (
        "Generator",
        "AsyncGenerator",
        "SequentialAsyncGenerator",
        "SequentialAsyncGenerator2",
        "MultiThreadingAsyncGenerator",
        "MajorVoteGenerator",
        "ExampleGenerator",
    ):
        assert names[name] and len(names[name]) < 100


def test_job_renders_with_examples_and_names_missing_fields() -> None:
    job = Job(instruction="I", template="{a} and {b}", examples=[{"input": {"a": 1, "b": 2}, "output": "x"}])
    messages = job.messages({"a": "A", "b": "B"})
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "A and B"
    with pytest.raises(InvalidInputError, match=r"missing field\(s\) \['b'\]"):
        job.render({"a": "A"})


def test_missing_field_fails_before_any_request(scripted: ScriptedLLM) -> None:
    job = Job(instruction="I", template="{a} {b}")
    with pytest.raises(InvalidInputError):
        AsyncGenerator(job, scripted).generate([{"a": 1, "b": 2}, {"a": 1}])
    assert scripted.requests == []


def test_generator_shapes(scripted: ScriptedLLM) -> None:
    assert Generator(JOB, scripted).generate("good").text.startswith("reply-")
    assert len(Generator(JOB, scripted).generate(["a", "b"])) == 2
    runs = AsyncGenerator(JOB, scripted, num_runs=3).generate("x")
    assert [r.run_index for r in runs] == [0, 1, 2] and len({r.text for r in runs}) == 3
    nested = AsyncGenerator(JOB, scripted, num_runs=2).generate(["p", "q", "r"])
    assert [[r.input_index for r in rs] for rs in nested] == [[0, 0], [1, 1], [2, 2]]


def test_failed_runs_stay_aligned_with_their_inputs(scripted: ScriptedLLM) -> None:
    scripted.concurrency = 1
    scripted.enqueue("ok-0", BackendError("refused"), "ok-2")
    results = SequentialAsyncGenerator(JOB, scripted).generate(["a", "b", "c"])
    assert [rs[0].input["review"] if isinstance(rs[0].input, dict) else rs[0].input for rs in results] == [
        "a",
        "b",
        "c",
    ]
    assert results[0][0].text == "ok-0" and results[2][0].text == "ok-2"
    assert results[1][0].text is None and isinstance(results[1][0].error, BackendError)


def test_sequential_runs_inputs_one_after_another() -> None:
    llm = ScriptedLLM(delay=0.05, cache=False, concurrency=16)
    SequentialAsyncGenerator(JOB, llm, num_runs=2).generate(["a", "b", "c"])
    order = [r.messages[-1]["content"] for r in llm.requests]
    assert order[:2] == ["Review: a"] * 2 and order[-1] == "Review: c"


def test_generator2_is_faster_but_never_exceeds_its_limit() -> None:
    import time

    llm = ScriptedLLM(delay=0.1, cache=False, concurrency=64)
    in_flight = peak = 0
    original = llm._agenerate_raw

    async def counting(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(request)
        finally:
            in_flight -= 1

    object.__setattr__(llm, "_agenerate_raw", counting)
    t0 = time.perf_counter()
    results = SequentialAsyncGenerator2(JOB, llm, num_runs=2, max_concurrency=4).generate(
        [str(i) for i in range(8)]
    )
    fast = time.perf_counter() - t0
    assert [len(r) for r in results] == [2] * 8 and peak == 4
    assert [r[0].input for r in results] == [str(i) for i in range(8)]
    t0 = time.perf_counter()
    SequentialAsyncGenerator(JOB, llm, num_runs=2, fresh=True).generate([str(i) for i in range(8)])
    assert time.perf_counter() - t0 > 1.5 * fast


def test_generator2_respects_requests_per_minute() -> None:
    import time

    llm = ScriptedLLM(cache=False)
    t0 = time.perf_counter()
    SequentialAsyncGenerator2(JOB, llm, requests_per_minute=600).generate(["a", "b", "c", "d"])
    assert time.perf_counter() - t0 >= 0.3  # 4 requests spaced 0.1 s apart


def test_multithreading_returns_variants_in_order(scripted: ScriptedLLM) -> None:
    settings = [
        JobSettings(name="cold", params={"temperature": 0.0}),
        JobSettings(name="hot", params={"temperature": 1.0}),
    ]
    results = MultiThreadingAsyncGenerator(JOB, scripted, job_settings=settings, num_runs=2).generate(
        ["a", "b"]
    )
    # input-first, like every generator: results[input][variant][run]
    assert [[runs[0].variant for runs in per_input] for per_input in results] == [["cold", "hot"]] * 2
    assert [[runs[0].input_index for runs in per_input] for per_input in results] == [[0, 0], [1, 1]]
    assert {r.params["temperature"] for r in results[0][1]} == {1.0}
    assert all(len(runs) == 2 for per_input in results for runs in per_input)


def test_progress_callback_sees_every_run(scripted: ScriptedLLM) -> None:
    seen: list[tuple[int, int]] = []
    AsyncGenerator(JOB, scripted, num_runs=3, progress_callback=lambda d, t: seen.append((d, t))).generate(
        ["a", "b"]
    )
    assert sorted(seen)[-1] == (6, 6) and len(seen) == 6


def test_submit_returns_a_future(scripted: ScriptedLLM) -> None:
    future = AsyncGenerator(JOB, scripted, num_runs=2).submit("x")
    assert isinstance(future, concurrent.futures.Future)
    assert len(future.result(timeout=10)) == 2


def test_majority_vote_counts_and_reliability(scripted: ScriptedLLM) -> None:
    scripted.max_choices = 1
    scripted.enqueue("Positive", "negative", "positive.", "Positive", BackendError("x"))
    scripted.concurrency = 1
    vote = MajorVoteGenerator(JOB, scripted, num_votes=5).generate("great")
    assert vote.winner == "Positive" and vote.decided_by == "majority"
    assert vote.reliability == 3 / 5 and sum(vote.votes.values()) == 4
    assert len(vote.candidates) == 5 and sum(1 for c in vote.candidates if c.error) == 1


def test_no_majority_lets_the_model_pick_and_says_so(scripted: ScriptedLLM) -> None:
    scripted.concurrency = 1
    scripted.enqueue("red", "green", "blue", '{"best": 2}')
    vote = MajorVoteGenerator(JOB, scripted, num_votes=3).generate("colour")
    assert vote.decided_by == "grade" and vote.winner == "green" and vote.reliability == 1 / 3


def test_human_mode_needs_a_callback_and_uses_it(scripted: ScriptedLLM) -> None:
    with pytest.raises(UsageError, match="human_callback"):
        MajorVoteGenerator(JOB, scripted, mode="human")
    scripted.enqueue("a", "b", "c")
    vote = MajorVoteGenerator(
        JOB, scripted, num_votes=3, mode="human", human_callback=lambda cands, _: len(cands) - 1
    ).generate("z")
    assert vote.decided_by == "human" and vote.winner == "c"


def test_sampler_labels_every_variant_in_order(scripted: ScriptedLLM) -> None:
    assert grid(temperature=[0.1, 0.9], seed=[1, 2]) == [
        {"temperature": 0.1, "seed": 1},
        {"temperature": 0.1, "seed": 2},
        {"temperature": 0.9, "seed": 1},
        {"temperature": 0.9, "seed": 2},
    ]
    results = Sampler(scripted, temperature=[0.1, 0.9], seed=[1, 2]).run(["a", "b"], num_generations=2)
    assert [r.label for r in results] == [
        "temperature=0.1, seed=1",
        "temperature=0.1, seed=2",
        "temperature=0.9, seed=1",
        "temperature=0.9, seed=2",
    ]
    assert all(len(r.results) == 2 and len(r.results[0].generations) == 2 for r in results)
    assert results[3].results[0].params["temperature"] == 0.9
    over_generator = Sampler(AsyncGenerator(JOB, scripted, num_runs=2), variants=[{"top_p": 0.5}]).run("x")
    assert over_generator[0].results[0].params["top_p"] == 0.5


def test_sampler_validates_variants_up_front(scripted: ScriptedLLM) -> None:
    from nbllm import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="temperature=7"):
        Sampler(scripted, temperature=[0.5, 7])


def test_async_api_of_generators(scripted: ScriptedLLM) -> None:
    async def main():
        return await AsyncGenerator(JOB, scripted, num_runs=2).agenerate(["a", "b"])

    assert len(asyncio.run(main())) == 2


def test_cancelling_multithreading_stops_every_variant() -> None:
    import concurrent.futures

    llm = ScriptedLLM(delay=0.05, cache=False, concurrency=2)
    variants = [JobSettings(name=f"v{i}", params={"temperature": 0.1 * i}) for i in range(3)]
    generator = MultiThreadingAsyncGenerator(
        Job(instruction="x", template="{input}"), llm, job_settings=variants
    )
    future = generator.submit([f"input {i}" for i in range(40)])
    deadline = time.monotonic() + 30
    while len(llm.requests) < 6 and time.monotonic() < deadline:  # every variant is under way
        time.sleep(0.01)
    future.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=10)
    time.sleep(0.3)  # let requests already in flight end (six delays)
    sent = len(llm.requests)
    time.sleep(0.5)  # ten more delays: a worker still running would have sent more by now
    assert len(llm.requests) == sent and sent < 40 * 3


def test_the_human_vote_error_names_a_widget_that_exists(scripted: ScriptedLLM) -> None:
    with pytest.raises(nbllm.UsageError, match=r"nbllm\.HumanVerification") as info:
        MajorVoteGenerator(JOB, scripted, num_votes=3, mode="human")
    named = str(info.value).split("nbllm.")[1].split("(")[0]
    assert callable(getattr(nbllm, named))  # before: nbllm.notebook.HumanVerification, which does not exist

"""The engine's protocol, on a scripted backend: merge order, cache, samples, retries, failures."""

from __future__ import annotations

import asyncio

import pytest

from nbllm import BackendError, CBlock, ModelNotFoundError, TransientBackendError
from tests.scripted import ScriptedLLM


def test_options_merge_defaults_then_llm_then_call(scripted: ScriptedLLM) -> None:
    scripted.params.temperature = 0.9
    scripted.params.top_p = 0.8
    scripted.generate("hi", top_p=0.3, seed=1)
    assert scripted.requests[-1].params == {"max_tokens": 16, "temperature": 0.9, "top_p": 0.3, "seed": 1}


def test_cache_hit_does_not_call_the_backend_and_is_marked(scripted: ScriptedLLM) -> None:
    first = scripted.generate("same", seed=3)[0].generations[0]
    again = scripted.generate("same", seed=3)[0].generations[0]
    assert len(scripted.requests) == 1
    assert again.text == first.text
    assert (first.stats.cache_hit, again.stats.cache_hit) == (False, True)
    assert again.stats.output_tokens == first.stats.output_tokens


def test_cache_persists_across_llm_objects(scripted: ScriptedLLM) -> None:
    text = scripted.run("persist me")
    other = ScriptedLLM(cache_path=str(scripted.engine.cache.path))
    assert other.run("persist me") == text
    assert other.requests == []


def test_n_samples_are_distinct_not_one_cached_answer(scripted: ScriptedLLM) -> None:
    (output,) = scripted.generate("q", num_generations=3)
    assert len(set(output.texts)) == 3
    assert [g.sample_index for g in output.generations] == [0, 1, 2]
    # rerun: all three from the cache, same order
    (again,) = scripted.generate("q", num_generations=3)
    assert again.texts == output.texts
    assert all(g.stats.cache_hit for g in again.generations)
    # asking for four reuses three and generates only the missing one
    calls = len(scripted.requests)
    (four,) = scripted.generate("q", num_generations=4)
    assert four.texts[:3] == output.texts and four.texts[3] not in output.texts
    assert len(scripted.requests) == calls + 1


def test_fresh_skips_the_cache(scripted: ScriptedLLM) -> None:
    a = scripted.run("q")
    b = scripted.run("q", fresh=True)
    assert a != b and len(scripted.requests) == 2


def test_n_is_asked_natively_and_missing_choices_are_filled(scripted: ScriptedLLM) -> None:
    scripted.max_choices = 1  # like llama.cpp's server: one choice whatever n is
    (output,) = scripted.generate("q", num_generations=3, seed=10)
    assert len(output.generations) == 3 and all(g.ok for g in output.generations)
    assert scripted.requests[0].n == 3
    # the separate calls use their own seeds so the samples differ
    assert sorted(r.params["seed"] for r in scripted.requests[1:]) == [11, 12]


def test_transient_failures_are_retried_honouring_retry_after(scripted: ScriptedLLM) -> None:
    scripted.enqueue(TransientBackendError("429", retry_after=0.3), "finally")
    scripted.engine.retry.initial_delay = 0.01
    import time

    t0 = time.perf_counter()
    (output,) = scripted.generate("q")
    assert output.texts == ["finally"]
    assert output.generations[0].stats.attempts == 2
    assert time.perf_counter() - t0 >= 0.3


def test_permanent_failure_marks_its_row_and_keeps_the_others(scripted: ScriptedLLM) -> None:
    scripted.concurrency = 1
    scripted.enqueue("first", ModelNotFoundError("no such model"), "third")
    outputs = scripted.generate(["a", "b", "c"])
    assert outputs[0].texts == ["first"] and outputs[2].texts == ["third"]
    failed = outputs[1].generations[0]
    assert failed.text is None and isinstance(failed.error, ModelNotFoundError)
    assert len(scripted.requests) == 3  # a permanent error is not retried
    with pytest.raises(ModelNotFoundError):
        outputs[1].raise_for_errors()


def test_retries_give_up_after_the_limit(scripted: ScriptedLLM) -> None:
    scripted.engine.retry.max_retries = 2
    scripted.engine.retry.initial_delay = 0.001
    scripted.enqueue(*[TransientBackendError("503")] * 3)
    (output,) = scripted.generate("q")
    assert isinstance(output.generations[0].error, TransientBackendError)
    assert len(scripted.requests) == 3


def test_failed_generation_is_not_cached(scripted: ScriptedLLM) -> None:
    scripted.enqueue(BackendError("boom"))
    assert scripted.generate("q")[0].generations[0].error is not None
    assert scripted.generate("q")[0].texts[0].startswith("reply-")


def test_thunks_are_lazy_and_awaitable(scripted: ScriptedLLM) -> None:
    scripted.delay = 0.2
    (thunks,) = scripted.submit("slow", num_generations=2)
    assert not thunks[0].is_computed
    with pytest.raises(RuntimeError, match="not computed yet"):
        _ = thunks[0].value
    generation = thunks[0].result(timeout=5)
    assert thunks[0].is_computed and thunks[0].value == generation.text
    assert thunks[0].stats.latency >= 0.2

    async def await_it():
        return await thunks[1]

    assert asyncio.run(await_it()).text == thunks[1].value


def test_log_reads_back_per_component(scripted: ScriptedLLM) -> None:
    block = CBlock("a question")
    (thunks,) = scripted.submit(block, num_generations=2)
    [t.result(timeout=5) for t in thunks]
    scripted.run("unrelated")
    entries = scripted.engine.log.for_component(block)
    assert [e.sample_index for e in sorted(entries, key=lambda e: e.sample_index)] == [0, 1]
    assert all(e.model == "scripted" and e.output_tokens == 2 for e in entries)


def test_concurrency_limit_is_respected() -> None:
    llm = ScriptedLLM(concurrency=2, delay=0.05, cache=False)
    active = peak = 0
    original = ScriptedLLM._agenerate_raw

    async def counting(self, request):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await original(self, request)
        finally:
            active -= 1

    ScriptedLLM._agenerate_raw = counting  # type: ignore[method-assign]
    try:
        outputs = llm.generate([f"q{i}" for i in range(8)])
    finally:
        ScriptedLLM._agenerate_raw = original  # type: ignore[method-assign]
    assert len(outputs) == 8 and peak == 2

"""Faults injected by a real server on 127.0.0.1: every request ends with its generation or its
recorded error, nothing is dropped or duplicated, and retries respect Retry-After."""

from __future__ import annotations

import pytest

import nbllm
from nbllm import AuthenticationError, BackendError, ModelNotFoundError, TransientBackendError

pytestmark = pytest.mark.slow

TRANSIENT = ["429ra0.4", "429", "500", "502", "503", "drop", "timeout"]
PERMANENT = {
    "400": BackendError,
    "401": AuthenticationError,
    "404": ModelNotFoundError,
    "malformed": BackendError,
}


def make(faults, **config) -> nbllm.OpenAILLM:
    """A 2 s request timeout (the "timeout" fault answers after 5 s) unless a test needs none."""
    config = {"timeout": 2.0, **config}
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False, **config)
    llm.engine.retry.initial_delay = 0.05
    return llm


def test_transient_faults_are_retried_and_every_row_completes(faults) -> None:
    prompts = [f"faults={fault}|q{i}" for i, fault in enumerate(TRANSIENT)] + [
        f"clean {i}" for i in range(10)
    ]
    outputs = make(faults, max_retries=3, concurrency=8).generate(prompts)
    assert len(outputs) == len(prompts)
    for prompt, output in zip(prompts, outputs):
        (g,) = output.generations
        assert g.error is None, (prompt, g.error)
        assert g.text == f"ok:{prompt.partition('|')[2] or prompt}"  # aligned with its own input
    arrivals = faults.stats()["arrivals"]
    for prompt in prompts:
        expected = 2 if prompt.startswith("faults=") else 1  # one failure, one success, no more
        assert len(arrivals[prompt]) == expected, prompt
    by_prompt = {p: o.generations[0] for p, o in zip(prompts, outputs)}
    assert by_prompt["faults=429ra0.4|q0"].stats.attempts == 2


def test_retry_after_is_honoured(faults) -> None:
    prompt = "faults=429ra0.6,429ra0.6|patient"
    (output,) = make(faults, max_retries=3).generate(prompt)
    assert output.generations[0].text == "ok:patient"
    times = faults.stats()["arrivals"][prompt]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.55 and times[2] - times[1] >= 0.55


def test_permanent_faults_are_not_retried_and_keep_the_batch(faults) -> None:
    prompts = [f"faults={fault}|p{i}" for i, fault in enumerate(PERMANENT)] + ["fine a", "fine b"]
    outputs = make(faults, max_retries=3).generate(prompts)
    arrivals = faults.stats()["arrivals"]
    for prompt, output, expected in zip(prompts, outputs, [*PERMANENT.values(), None, None]):
        g = output.generations[0]
        assert len(arrivals[prompt]) == 1, prompt  # sent once: a permanent failure is not retried
        if expected is None:
            assert g.text == f"ok:{prompt}"
        else:
            assert g.text is None and isinstance(g.error, expected), (prompt, g.error)
    frame = outputs.to_dataframe()
    assert frame["error"].notna().sum() == len(PERMANENT)
    assert "malformed response" in frame["error"][3] and "AuthenticationError" in frame["error"][1]


def test_retries_give_up_with_the_error_recorded(faults) -> None:
    prompt = "faults=503,503,503,503|never"
    (output,) = make(faults, max_retries=2).generate(prompt)
    g = output.generations[0]
    assert isinstance(g.error, TransientBackendError) and "503" in str(g.error)
    assert g.stats.attempts == 3 and len(faults.stats()["arrivals"][prompt]) == 3


def test_a_succeeded_request_is_never_sent_again(faults, tmp_path) -> None:
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache_path=str(tmp_path / "c.sqlite3"))
    llm.engine.retry.initial_delay = 0.05
    prompts = ["faults=500|x", "y", "faults=drop|z"]
    first = llm.generate(prompts)
    again = llm.generate(prompts)
    assert [o.texts for o in first] == [o.texts for o in again]
    assert all(g.stats.cache_hit for o in again for g in o.generations)
    arrivals = faults.stats()["arrivals"]
    assert [len(arrivals[p]) for p in prompts] == [2, 1, 2]


def test_concurrency_and_rate_limits(faults) -> None:
    import time

    outputs = make(faults, concurrency=3).generate([f"c{i}" for i in range(24)])
    assert all(o.generations[0].ok for o in outputs)
    assert faults.stats()["peak_in_flight"] <= 3
    faults.reset()
    limited = make(faults, concurrency=8, requests_per_minute=600)
    t0 = time.perf_counter()
    limited.generate([f"r{i}" for i in range(6)])
    assert time.perf_counter() - t0 >= 0.5  # six requests at ten a second


# -- Retry-After, x-should-retry (openai-python's rules) ------------------------------------------


def test_unreadable_or_huge_retry_after_falls_back_to_backoff(faults) -> None:
    prompts = ["faults=429rasoon|a", "faults=429ra3600|b"]
    outputs = make(faults, max_retries=2).generate(prompts)
    for prompt, output in zip(prompts, outputs):
        g = output.generations[0]
        assert g.ok and g.stats.attempts == 2, (prompt, g.error)
    times = faults.stats()["arrivals"]["faults=429ra3600|b"]
    assert times[1] - times[0] < 5  # an hour was asked for; nbllm backed off instead


def test_x_should_retry_overrides_the_status(faults) -> None:
    no, yes = make(faults, max_retries=3).generate(["faults=500noretry|n", "faults=400retry|y"])
    assert isinstance(no.generations[0].error, BackendError) and no.generations[0].stats.attempts == 1
    assert not isinstance(no.generations[0].error, TransientBackendError)
    assert yes.generations[0].text == "ok:y" and yes.generations[0].stats.attempts == 2


# -- what an error says ------------------------------------------------------------------------------


def test_a_refused_connection_says_could_not_connect() -> None:
    from tests.conftest import free_port

    llm = nbllm.OpenAILLM(
        model="x", base_url=f"http://127.0.0.1:{free_port()}/v1", cache=False, max_retries=0
    )
    g = llm.generate("anyone there?")[0].generations[0]
    assert isinstance(g.error, TransientBackendError)
    assert "could not connect" in str(g.error) and "timed out" not in str(g.error)


def test_a_reset_mid_response_does_not_say_could_not_connect(faults) -> None:
    g = make(faults, max_retries=0, timeout=60).generate("faults=drop|x")[0].generations[0]
    assert isinstance(g.error, TransientBackendError)
    assert "could not connect" not in str(g.error) and "broke" in str(g.error)


def test_an_answer_without_choices_gets_a_clear_message(faults) -> None:
    g = make(faults, max_retries=0, timeout=60).generate("faults=nochoices|x")[0].generations[0]
    assert isinstance(g.error, BackendError) and "without any choices" in str(g.error)
    assert "NoneType" not in str(g.error)


def test_a_web_page_instead_of_an_answer_names_what_came(faults) -> None:
    g = make(faults, max_retries=0, timeout=60).generate("faults=html|x")[0].generations[0]
    assert isinstance(g.error, BackendError) and "without any choices" in str(g.error)
    assert "<html><body>Sign in" in str(g.error) and "check base_url" in str(g.error)


def test_the_model_list_is_checked_once_per_llm(faults) -> None:
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False, concurrency=8)
    llm.generate([f"row {i}" for i in range(12)])
    llm.generate(["one more"])
    assert faults.stats()["model_lists"] == 1


def test_a_refused_key_is_asked_once_and_fails_every_row(faults) -> None:
    llm = nbllm.OpenAILLM(
        model="fault", base_url=faults.base_url, api_key="bad-key-0123456789", cache=False, concurrency=8
    )
    outputs = llm.generate([f"row {i}" for i in range(10)])
    assert all(isinstance(o.generations[0].error, AuthenticationError) for o in outputs)
    assert faults.stats()["model_lists"] == 1 and not faults.stats()["arrivals"]
    llm.api_key = "good-key-0123456789"  # a new key is checked anew
    assert llm.generate("row 0")[0].generations[0].ok


# -- streams go through the same protocol -------------------------------------------------------


def test_a_stream_cut_halfway_is_retried_and_never_cached_cut(faults, tmp_path) -> None:
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache_path=str(tmp_path / "c.sqlite3"))
    llm.engine.retry.initial_delay = 0.05
    prompt = "faults=cut|one two three four five six"
    pieces = list(llm.stream(prompt))
    assert "".join(pieces) == "ok:one two three four five six"
    assert len(faults.stats()["arrivals"][prompt]) == 2  # cut once, then complete
    cached = llm.generate(prompt)[0].generations[0]
    assert cached.stats.cache_hit and cached.text == "ok:one two three four five six"


def test_a_stream_is_retried_like_any_request(faults) -> None:
    llm = make(faults, max_retries=3)
    prompt = "faults=500,429ra0.1|streamed after two faults"
    assert "".join(llm.stream(prompt)) == "ok:streamed after two faults"
    last = llm.last_generation
    assert last is not None and last.stats.attempts == 3 and last.stats.input_tokens == 5


def test_a_stream_that_keeps_failing_raises_the_nbllm_error(faults) -> None:
    llm = make(faults, max_retries=1)
    with pytest.raises(TransientBackendError, match="503"):
        list(llm.stream("faults=503,503,503|never"))


def test_a_stream_respects_the_budget(faults) -> None:
    llm = make(faults)
    llm.budget = nbllm.Budget(price_per_output_token=1.0, max_cost=5)
    with pytest.raises(nbllm.BudgetExceededError):
        list(llm.stream("too dear", max_tokens=100))
    assert "too dear" not in faults.stats()["arrivals"]

"""The budget holds each request's worst case before it is sent, against a real server on
127.0.0.1: without max_tokens that is the model's own ceiling (its context as the server's
model list states it, or its known maximum output), so concurrent long answers cannot cross
max_cost."""

from __future__ import annotations

import pytest

import nbllm

pytestmark = pytest.mark.slow


def llm_for(faults, model: str = "fault", **config) -> nbllm.OpenAILLM:
    return nbllm.OpenAILLM(model=model, base_url=faults.base_url, cache=False, **config)


def test_without_max_tokens_the_context_the_server_states_is_held(faults) -> None:
    llm = llm_for(faults)
    llm.budget = nbllm.Budget(price_per_output_token=1e-3, max_cost=2.0)
    (row,) = llm.generate("hello")  # holds (2048 - about 5 prompt tokens) of output: 2.04
    (error,) = row.errors
    assert isinstance(error, nbllm.BudgetExceededError) and "up to 2.04" in str(error)
    assert "hello" not in faults.stats()["arrivals"]
    assert llm.capabilities["context_length"].startswith("2048 tokens")
    llm.budget = nbllm.Budget(price_per_output_token=1e-3, max_cost=2.1)
    assert llm.generate("hello")[0].generations[0].ok
    assert llm.budget.reserved == 0 and llm.budget.cost == pytest.approx(3e-3)


def test_a_known_model_holds_its_maximum_output_and_an_unknown_one_the_assumed(faults) -> None:
    known = llm_for(faults, "gpt-4o-mini", check_model=False)  # 16,384 output tokens at most
    known.budget = nbllm.Budget(price_per_output_token=1e-4, max_cost=1.6)
    (error,) = known.generate("hi")[0].errors
    assert isinstance(error, nbllm.BudgetExceededError) and "up to 1.638" in str(error)
    unknown = llm_for(faults, "mystery-model", check_model=False)
    unknown.budget = nbllm.Budget(price_per_output_token=1e-3, max_cost=0.9, assumed_output_tokens=1000)
    (error,) = unknown.generate("hi")[0].errors
    assert "up to 1" in str(error)
    unknown.budget = nbllm.Budget(price_per_output_token=1e-3, max_cost=1.1, assumed_output_tokens=1000)
    assert unknown.generate("hi")[0].generations[0].ok  # the assumed 1000 tokens fit
    assert "hi" in faults.stats()["arrivals"]


def test_sixty_four_long_answers_at_once_stay_within_max_cost(faults) -> None:
    llm = llm_for(faults, concurrency=64)
    llm.budget = nbllm.Budget(price_per_output_token=1e-3, max_cost=10.0)  # about 4 worst cases
    outputs = llm.generate([f"long answer {i}" for i in range(64)])
    sent = [o for o in outputs if o.generations[0].ok]
    refused = [o for o in outputs if isinstance(o.generations[0].error, nbllm.BudgetExceededError)]
    assert len(sent) + len(refused) == 64 and 1 <= len(sent) <= 5
    assert llm.budget.cost <= 10.0, f"spent {llm.budget.cost} of a 10.0 budget"
    assert llm.budget.cost == pytest.approx(2.0 * len(sent))  # each billed 2000 tokens


def test_an_attempt_that_timed_out_is_charged_as_it_may_have_been_billed(faults) -> None:
    llm = llm_for(faults, timeout=0.5, max_retries=1)
    llm.budget = nbllm.Budget(price_per_output_token=1e-3, max_cost=10.0)
    (row,) = llm.generate("faults=timeout,timeout|question 9", max_tokens=100)
    assert not row.generations[0].ok  # both attempts timed out
    # each attempt held (about 4 prompt tokens, free here) + 100 output tokens at 1e-3: 0.1
    assert llm.budget.cost == pytest.approx(0.2) and llm.budget.reserved == 0
    (ok,) = llm.generate("question 10", max_tokens=100)
    assert ok.generations[0].ok and llm.budget.cost == pytest.approx(
        0.2 + ok.generations[0].stats.output_tokens * 1e-3
    )


def test_cut_streams_and_broken_connections_are_charged_as_they_may_have_been_billed(faults) -> None:
    llm = llm_for(faults, max_retries=3)
    llm.engine.retry.initial_delay = 0.05
    llm.budget = nbllm.Budget(price_per_input_token=1e-3, price_per_output_token=1e-3, max_cost=10.0)
    prompt = "faults=cut,cut,cut,cut|one two three four five six seven eight"
    with pytest.raises(nbllm.TransientBackendError, match="without saying it was finished"):
        list(llm.stream(prompt, max_tokens=50))
    assert len(faults.stats()["arrivals"][prompt]) == 4  # four attempts, each cut halfway
    cut = llm.budget.cost
    assert cut > 4 * 4e-3, "the cut streams were not charged"  # each: its prompt and what came
    assert llm.budget.input_tokens == 0 and llm.budget.unmetered == pytest.approx(cut)  # estimates
    assert llm.budget.reserved == 0
    broken = llm_for(faults, max_retries=0)
    broken.budget = nbllm.Budget(price_per_input_token=1e-3, max_cost=10.0)
    (row,) = broken.generate("faults=drop|a question that reached the server", max_tokens=50)
    assert isinstance(row.generations[0].error, nbllm.TransientBackendError)
    assert broken.budget.cost > 0 and broken.budget.unmetered == broken.budget.cost  # the prompt
    assert broken.budget.reserved == 0
    refused = nbllm.OpenAILLM(model="fault", base_url="http://127.0.0.1:9/v1", max_retries=0, cache=False)
    refused.budget = nbllm.Budget(price_per_input_token=1e-3, max_cost=10.0)
    refused.generate("never sent", max_tokens=50)
    assert refused.budget.cost == 0  # nothing reached a server: nothing billed

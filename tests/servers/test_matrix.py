"""The same results on every OpenAI-compatible server: each feature against each real server.

The servers differ (see conftest): llama-cpp-python's refuses the json_schema response format
and answers n > 1 with one choice, llama-server refuses n > 1, llama-cpp-python sends no usage
in streams. nbllm finds this out from their answers, and the results are the same everywhere.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel

import nbllm
from nbllm.engine.requests import RawGeneration, RawRequest
from tests.servers.conftest import ALIAS, Endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class City(BaseModel):
    city: str
    country: str


class CountingLLM(nbllm.OpenAILLM):
    """The real OpenAI backend, counting its requests in flight."""

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        self._lock = threading.Lock()
        self._flight = [0, 0]  # now, peak

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        with self._lock:
            self._flight[0] += 1
            self._flight[1] = max(self._flight[1], self._flight[0])
        try:
            await asyncio.sleep(0)
            return await super()._agenerate_raw(request)
        finally:
            with self._lock:
                self._flight[0] -= 1


def test_n_greater_than_one_with_params(endpoint: Endpoint) -> None:
    llm = endpoint.llm()
    (output,) = llm.generate(
        "Name a colour.", num_generations=3, temperature=1.0, top_p=0.9, max_tokens=8, seed=5
    )
    assert len(output.generations) == 3 and all(g.ok and g.text for g in output.generations)
    assert [g.sample_index for g in output.generations] == [0, 1, 2]
    assert output.params["temperature"] == 1.0 and output.params["top_p"] == 0.9
    assert endpoint.expects["n"] in llm.capabilities["n_choices"], llm.capabilities
    # seeded: the answer says whether the server can promise the seed reproduces it
    if endpoint.name == "llama-server":
        assert any("2 requests at once" in note for note in output.generations[0].notes)
    assert all(g.notes for g in output.generations), "a seeded sample without a note on reproducibility"
    assert "seed" in llm.capabilities


def test_batch_of_twenty_with_a_concurrency_limit(endpoint: Endpoint) -> None:
    llm = CountingLLM(model=ALIAS, base_url=endpoint.url, api_key=endpoint.key, cache=False, concurrency=3)
    prompts = [f"Repeat this number: {i}" for i in range(20)]
    outputs = llm.generate(prompts, max_tokens=12, temperature=0.0)
    assert [o.input[-1]["content"] for o in outputs] == prompts
    assert all(o.generations[0].ok and o.generations[0].text for o in outputs)
    assert 2 <= llm._flight[1] <= 3, f"peak requests in flight {llm._flight[1]} (limit 3)"
    frame = outputs.to_dataframe()
    assert list(frame["input"]) == prompts and frame["error"].isna().all()


def test_streaming_with_token_counts(endpoint: Endpoint) -> None:
    llm = endpoint.llm()
    chunks = list(llm.stream("Name three colours.", max_tokens=16, temperature=0.0))
    generation = llm.last_generation
    assert generation is not None and "".join(chunks) == generation.text and len(chunks) > 1
    assert generation.stats.input_tokens > 5 and generation.stats.output_tokens > 1
    assert generation.stats.tokens_estimated is endpoint.expects["tokens_estimated"]
    frame = nbllm.GenerateOutput(ALIAS, [generation]).to_dataframe()
    if endpoint.expects["tokens_estimated"]:
        assert frame["tokens_estimated"].tolist() == [True]
        assert "estimated" in llm.capabilities["stream_usage"]
    else:
        assert "tokens_estimated" not in frame.columns
        assert "sent by the server" in llm.capabilities["stream_usage"]


def test_structured_output_with_a_pydantic_model(endpoint: Endpoint) -> None:
    llm = endpoint.llm()
    (output,) = llm.generate(
        "Name a city and its country.", structured_output=City, max_tokens=60, temperature=0.0
    )
    generation = output.generations[0]
    assert generation.ok, generation.error
    assert isinstance(generation.parsed, City) and generation.parsed.city
    assert generation.stats.attempts == 1
    assert llm.capabilities["structured_output"].startswith(endpoint.expects["structured_output"])


def test_a_refused_response_format_is_not_retried(endpoint: Endpoint) -> None:
    llm = endpoint.llm(structured_output_mode="json_schema", max_retries=3)
    # greedy: the check is that the format is accepted, not what a sample makes of it (a
    # sampled answer once filled the string with "nbsp;" until max_tokens cut the JSON)
    (output,) = llm.generate(
        "Name a city and its country.", structured_output=City, max_tokens=60, temperature=0.0
    )
    generation = output.generations[0]
    if endpoint.expects["structured_output"] == "json_schema":
        assert generation.ok and isinstance(generation.parsed, City)
    else:
        assert isinstance(generation.error, nbllm.BackendError)
        assert not isinstance(generation.error, nbllm.TransientBackendError)
        assert generation.stats.attempts == 1, "a request the server refused for its shape was retried"
        assert "structured_output_mode='auto'" in str(generation.error)


def test_wrong_model(endpoint: Endpoint) -> None:
    llm = nbllm.OpenAILLM(model="no-such-model", base_url=endpoint.url, api_key=endpoint.key, cache=False)
    (output,) = llm.generate("Hi", max_tokens=4)
    error = output.generations[0].error
    assert isinstance(error, nbllm.ModelNotFoundError) and ALIAS in str(error)


def test_wrong_key(endpoint: Endpoint) -> None:
    llm = nbllm.OpenAILLM(model=ALIAS, base_url=endpoint.url, api_key="sk-wrong-0123", cache=False)
    (output,) = llm.generate("Hi", max_tokens=4)
    error = output.generations[0].error
    assert isinstance(error, nbllm.AuthenticationError)
    assert "invalid api key" in str(error).lower(), "the server's own words are missing"
    assert "sk-wrong-0123" not in str(error) and "sk-wrong-0123" not in repr(llm)


def test_rate_limit_backs_off_and_keeps_every_row(endpoint: Endpoint) -> None:
    prompts = [f"Say the word {w}." for w in ("red", "green", "blue", "black", "white", "grey")]
    strict = nbllm.OpenAILLM(
        model=ALIAS, base_url=endpoint.limited_url, api_key=endpoint.limited_key, cache=False,
        concurrency=4, max_retries=0,
    )  # fmt: skip
    outputs = strict.generate(prompts, max_tokens=24, temperature=0.0)
    failed = [o.generations[0].error for o in outputs if not o.generations[0].ok]
    assert failed, "the server's limit was never hit"
    assert len(failed) < len(prompts), "no request got through"
    assert all("rate limit hit" in str(e) and "max_retries" in str(e) for e in failed), failed[0]

    patient = nbllm.OpenAILLM(
        model=ALIAS, base_url=endpoint.limited_url, api_key=endpoint.limited_key, cache=False,
        concurrency=4, max_retries=12, max_retry_after=1.0,
    )  # fmt: skip
    outputs = patient.generate(prompts, max_tokens=24, temperature=0.0)
    assert [o.input[-1]["content"] for o in outputs] == prompts
    assert all(o.generations[0].ok for o in outputs), [o.generations[0].error for o in outputs]
    assert max(o.generations[0].stats.attempts for o in outputs) > 1, "no request was ever retried"

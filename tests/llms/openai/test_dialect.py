"""What a model takes: OpenAI's documented rules by model name, and refusals read and remembered.

Pure logic on the capability table; the same behaviour end to end, against a server that
answers as OpenAI documents, is in tests/llms/openai/test_reasoning.py.
"""

from __future__ import annotations

import pytest

from nbllm.errors import UnsupportedParameterError
from nbllm.llms.openai import dialect
from nbllm.llms.openai.capabilities import EndpointCapabilities


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("gpt-5-mini", "max_completion_tokens"),
        ("gpt-5.1-2025-11-13", "max_completion_tokens"),
        ("o4-mini", "max_completion_tokens"),
        ("openai/o3", "max_completion_tokens"),
        ("gpt-5-chat-latest", "max_tokens"),
        ("gpt-4o-mini", "max_tokens"),
        ("qwen3", "max_tokens"),
    ],
)
def test_the_output_bound_goes_under_the_name_the_model_takes(model: str, field: str) -> None:
    body = dialect.body_params(model, {"max_tokens": 100, "seed": 1}, EndpointCapabilities())
    assert body == {field: 100, "seed": 1}


def test_extra_body_is_merged_into_the_body() -> None:
    params = {"max_tokens": 5, "extra_body": {"chat_template_kwargs": {"enable_thinking": False}}}
    body = dialect.body_params("qwen3", params, EndpointCapabilities())
    assert body == {"max_tokens": 5, "chat_template_kwargs": {"enable_thinking": False}}


@pytest.mark.parametrize(
    ("model", "params", "named"),
    [
        ("gpt-5-mini", {"temperature": 0.2}, "temperature"),
        ("o3-mini", {"top_p": 0.5}, "top_p"),
        ("gpt-5", {"reasoning_effort": "none"}, "reasoning_effort"),
        ("gpt-5.1", {"reasoning_effort": "minimal"}, "reasoning_effort"),
        ("gpt-5-pro", {"reasoning_effort": "low"}, "reasoning_effort"),
        ("gpt-5.1", {"reasoning_effort": "low", "temperature": 0.3}, "temperature"),
    ],
)
def test_what_a_known_model_refuses_fails_naming_the_model_and_what_it_takes(
    model: str, params: dict, named: str
) -> None:
    with pytest.raises(UnsupportedParameterError) as info:
        dialect.check(model, params, EndpointCapabilities())
    assert info.value.field == named
    assert model in str(info.value)
    assert named in str(info.value)


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("gpt-5-mini", {"temperature": 1, "reasoning_effort": "minimal", "max_tokens": 10}),
        ("gpt-5.1", {"reasoning_effort": "none", "temperature": 0.2}),  # 5.1 samples at effort none
        ("gpt-5.1", {"temperature": 0.2}),  # its default effort
        ("gpt-4o", {"temperature": 0.2, "top_p": 0.9}),
        ("my-local-model", {"reasoning_effort": "xhigh", "temperature": 0.7}),
    ],
)
def test_what_a_model_takes_passes(model: str, params: dict) -> None:
    dialect.check(model, params, EndpointCapabilities())


def test_a_refused_max_tokens_is_remembered_as_the_name_the_server_asks_for() -> None:
    endpoint = EndpointCapabilities()
    refusal = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    assert dialect.learn(refusal, {"max_tokens": 10}, endpoint) is not None
    assert dialect.body_params("some-proxy-alias", {"max_tokens": 10}, endpoint) == {
        "max_completion_tokens": 10
    }


def test_refused_effort_values_are_remembered_and_said_before_the_next_request() -> None:
    endpoint = EndpointCapabilities()
    refusal = (
        "Unsupported value: 'reasoning_effort' does not support 'minimal' with this model. "
        "Supported values are: 'low', 'medium', and 'high'."
    )
    dialect.learn(refusal, {"reasoning_effort": "minimal"}, endpoint)
    assert endpoint.efforts == ("low", "medium", "high")
    with pytest.raises(UnsupportedParameterError, match="it takes reasoning_effort low, medium, high"):
        dialect.check("alias", {"reasoning_effort": "minimal"}, endpoint)
    dialect.check("alias", {"reasoning_effort": "high"}, endpoint)


def test_a_refused_sampling_value_is_remembered_but_the_default_still_passes() -> None:
    endpoint = EndpointCapabilities()
    refusal = (
        "Unsupported value: 'temperature' does not support 0.2 with this model. "
        "Only the default (1) value is supported."
    )
    dialect.learn(refusal, {"temperature": 0.2}, endpoint)
    with pytest.raises(UnsupportedParameterError, match="temperature"):
        dialect.check("alias", {"temperature": 0.7}, endpoint)
    dialect.check("alias", {"temperature": 1}, endpoint)


def test_a_refusal_of_what_nbllm_writes_itself_is_left_to_its_own_fallbacks() -> None:
    endpoint = EndpointCapabilities()
    refusal = "Unsupported parameter: 'n' is not supported with this model."
    assert dialect.learn(refusal, {"n": 3, "max_tokens": 1}, endpoint) is None
    assert endpoint.refused_params == {}


def test_a_refusal_naming_a_parameter_the_request_did_not_carry_teaches_nothing() -> None:
    endpoint = EndpointCapabilities()
    assert dialect.learn("Unsupported parameter: 'logprobs'", {"max_tokens": 1}, endpoint) is None
    assert dialect.learn("model not found", {"max_tokens": 1}, endpoint) is None
    assert endpoint.refused_params == {} and endpoint.max_tokens_field is None

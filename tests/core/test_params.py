"""Generation parameters are validated on construction and on assignment, naming the field."""

from __future__ import annotations

import pytest

import nbllm
from nbllm import GenerationParams, InvalidParameterError, UnsupportedParameterError


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("temperature", 3.0, "temperature=3.0 is invalid: temperature must be a number >= 0.0 and <= 2.0"),
        ("top_p", 1.5, "top_p=1.5 is invalid: top_p must be a number >= 0.0 and <= 1.0"),
        ("max_tokens", 0, "max_tokens=0 is invalid: max_tokens must be an integer >= 1"),
        ("top_k", -1, "top_k=-1 is invalid: top_k must be an integer >= 0"),
        ("seed", -5, "seed=-5 is invalid: seed must be an integer >= 0 and < 4294967296"),
        (
            "repetition_penalty",
            0,
            "repetition_penalty=0 is invalid: repetition_penalty must be a number > 0.0",
        ),
        ("frequency_penalty", 9, "frequency_penalty=9 is invalid"),
        ("stop", "", "stop must be a non-empty string"),
        ("stop", ["ok", ""], "stop must be a non-empty string"),
        ("temperature", "hot", "temperature='hot' is invalid"),
    ],
)
def test_out_of_range_fails_on_assignment(field: str, value: object, expected: str) -> None:
    params = GenerationParams()
    with pytest.raises(InvalidParameterError) as info:
        setattr(params, field, value)
    assert expected in str(info.value)
    assert info.value.field == field
    assert getattr(params, field) is None  # the bad value was not kept


def test_out_of_range_fails_on_construction() -> None:
    with pytest.raises(InvalidParameterError, match="top_p=2"):
        GenerationParams(top_p=2)


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(InvalidParameterError, match="unknown generation parameter 'temprature'"):
        GenerationParams(temprature=0.5)
    with pytest.raises(InvalidParameterError, match="'beam_width'"):
        GenerationParams().update(beam_width=3)


def test_presets_set_fields_and_unknown_preset_fails() -> None:
    params = GenerationParams().apply_preset("creative")
    assert params.temperature > 1.0
    assert GenerationParams().apply_preset("precise").temperature < 0.5
    with pytest.raises(InvalidParameterError, match="unknown preset 'wild'"):
        params.apply_preset("wild")


def test_merge_later_layers_win() -> None:
    merged = GenerationParams.merge({"temperature": 0.1, "top_p": 0.5}, {"temperature": 0.9}, {"seed": 4})
    assert merged.set_values() == {"temperature": 0.9, "top_p": 0.5, "seed": 4}


def test_llm_params_validate_on_assignment() -> None:
    llm = nbllm.LlamaCppLLM()
    llm.params.temperature = 0.3
    with pytest.raises(InvalidParameterError, match="temperature"):
        llm.params.temperature = -1
    assert llm.generation_kwargs == {"temperature": 0.3}


def test_call_override_is_validated_before_any_request(scripted) -> None:
    with pytest.raises(InvalidParameterError, match="top_p=7"):
        scripted.generate("hi", top_p=7)
    assert scripted.requests == []


def test_unsupported_parameter_is_an_error_not_dropped(tmp_path) -> None:
    llm = nbllm.OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1", cache=False)
    with pytest.raises(UnsupportedParameterError, match="does not support repetition_penalty, top_k"):
        llm.generate("hi", top_k=5, repetition_penalty=1.1)
    # a server that understands them can opt in
    ok = nbllm.OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1", server_params={"top_k"})
    assert "top_k" in ok._supported_params()


def test_num_generations_must_be_positive(scripted) -> None:
    with pytest.raises(InvalidParameterError, match="num_generations=0"):
        scripted.generate("hi", num_generations=0)


# -- the parameters of today's models ---------------------------------------------------------
def test_max_completion_tokens_is_max_tokens_by_its_other_name() -> None:
    assert GenerationParams(max_completion_tokens=100).max_tokens == 100
    params = GenerationParams()
    params.max_completion_tokens = 7
    assert params.max_tokens == 7
    assert params.update(max_completion_tokens=9).max_tokens == 9
    assert GenerationParams.merge({"max_tokens": 3}, {"max_completion_tokens": 12}).max_tokens == 12
    with pytest.raises(InvalidParameterError, match="name one setting") as info:
        GenerationParams(max_tokens=5, max_completion_tokens=6)
    assert info.value.field == "max_completion_tokens"


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh"])
def test_every_reasoning_effort_a_provider_names_is_valid(effort: str) -> None:
    assert GenerationParams(reasoning_effort=effort).set_values() == {"reasoning_effort": effort}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "reasoning_effort",
            "max",
            "reasoning_effort must be one of none, minimal, low, medium, high, xhigh",
        ),
        ("reasoning_effort", 3, "reasoning_effort must be one of"),
        ("verbosity", "loud", "verbosity must be one of low, medium, high"),
        ("extra_body", "grammar", "extra_body is invalid"),
        ("extra_body", {"x": float("nan")}, "only JSON values"),
        ("extra_body", {"x": object()}, "only JSON values"),
        ("extra_body", {"temperature": 0.2}, "pass it as the generation parameter temperature="),
        ("extra_body", {"max_completion_tokens": 9}, "generation parameter max_tokens="),
        ("extra_body", {"messages": []}, "nbllm writes it from the call itself"),
        ("extra_body", {"stream": True}, "nbllm writes it from the call itself"),
    ],
)
def test_the_new_parameters_are_validated_naming_the_field(field: str, value: object, expected: str) -> None:
    with pytest.raises(InvalidParameterError, match="is invalid") as info:
        GenerationParams(**{field: value})
    assert expected in str(info.value)
    assert info.value.field == field


@pytest.mark.parametrize("key", ["api_key", "Authorization", "extra_headers", "headers", "x-api-key"])
def test_extra_body_never_carries_a_key_or_a_header_and_never_repeats_it(key: str) -> None:
    secret = "sk-live-0123456789abcdef"
    with pytest.raises(InvalidParameterError) as info:
        GenerationParams(extra_body={key: secret})
    assert "keys and headers never travel" in str(info.value)
    assert secret not in str(info.value)


def test_extra_body_holds_a_servers_own_options() -> None:
    body = {"chat_template_kwargs": {"enable_thinking": False}, "grammar": "root ::= [a-z]+"}
    assert GenerationParams(extra_body=body).extra_body == body

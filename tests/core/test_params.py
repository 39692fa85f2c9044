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

"""Inputs too big to make sense fail at once, naming the limit, before any request."""

from __future__ import annotations

import time

import pytest

import nbllm
from nbllm import InvalidInputError, InvalidParameterError
from tests.scripted import ScriptedLLM


def test_a_billion_generations_fail_at_once(scripted: ScriptedLLM) -> None:
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError, match="num_generations") as info:
        scripted.generate("hi", num_generations=10**9)
    assert time.perf_counter() - t0 < 1 and info.value.field == "num_generations"
    assert "1024" in str(info.value)
    with pytest.raises(InvalidParameterError, match="chunks"):
        scripted.generate(["x"] * 1000, num_generations=1000)
    assert scripted.requests == []


def test_a_ten_megabyte_prompt_is_refused_before_sending(scripted: ScriptedLLM) -> None:
    with pytest.raises(InvalidInputError, match="10,000,000 characters"):
        scripted.generate("x" * 10_000_000)
    with pytest.raises(InvalidInputError):
        list(scripted.stream("x" * 10_000_000)) if scripted.supports_streaming else scripted.run(
            "x" * 10_000_000
        )
    assert scripted.requests == []
    scripted.max_input_chars = 20_000_000  # the documented way to allow it
    assert scripted.generate("x" * 10_000_000)[0].generations[0].ok


@pytest.mark.slow
def test_the_embedded_model_bounds_inputs_by_its_context() -> None:
    llm = nbllm.LlamaCppLLM(cache=False, n_ctx=512)
    with pytest.raises(InvalidInputError, match="context of 512 tokens"):
        llm.generate("word " * 2000)
    with pytest.raises(InvalidParameterError, match="max_tokens"):
        llm.generate("hi", max_tokens=4096)
    with pytest.raises(InvalidInputError):
        list(llm.stream("word " * 2000))

from __future__ import annotations

import pytest

import nbllm
from nbllm import InvalidParameterError
from nbllm.core.formats import PROMPT_FORMATS

MESSAGES = ({"role": "system", "content": "S"}, {"role": "user", "content": "U"})


def test_named_formats_render_roles() -> None:
    assert PROMPT_FORMATS["chatml"](MESSAGES).endswith("<|im_start|>assistant\n")
    assert "<<SYS>>\nS\n<</SYS>>" in PROMPT_FORMATS["llama2"](MESSAGES)
    assert PROMPT_FORMATS["alpaca"](MESSAGES).endswith("### Response:\n")
    assert "<|user|>\nU</s>" in PROMPT_FORMATS["zephyr"](MESSAGES)


def test_unknown_format_fails_on_construction() -> None:
    with pytest.raises(InvalidParameterError, match="unknown prompt_format 'vicuna'"):
        nbllm.LlamaCppLLM(prompt_format="vicuna")


def test_formatting_fn_renders_the_request(scripted) -> None:
    scripted.prompt_formatting_fn = lambda messages: "PROMPT:" + messages[-1]["content"]
    scripted.generate("hello")
    assert scripted.requests[-1].prompt == "PROMPT:hello"

"""Bad inputs fail with a clear nbllm error naming the problem, before any model is touched."""

from __future__ import annotations

import pytest

from nbllm import InvalidInputError, NBLLMError
from nbllm.core.messages import to_batch, to_messages


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ([], "empty list of messages"),
        ("   ", "empty prompt"),
        ([{"role": "robot", "content": "hi"}], "role 'robot'"),
        ([{"role": "user", "content": 42}], "content must be a string, not int"),
        ([{"role": "user", "content": None}], "content must be a string, not NoneType"),
        ([{"role": "user"}], "has no 'content' key"),
        ([{"content": "hi"}], "has no 'role' key"),
        (["hello", {"role": "user", "content": "x"}], "must be a dict"),
        ([{"role": "user", "content": "x", "color": "red"}], "unknown key(s) ['color']"),
        (42, "must be a string or a list of chat messages, not int"),
    ],
)
def test_bad_message_is_named(bad: object, expected: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        to_messages(bad)  # type: ignore[arg-type]
    assert expected in str(info.value)
    assert isinstance(info.value, NBLLMError) and isinstance(info.value, ValueError)


def test_error_points_at_the_message() -> None:
    with pytest.raises(InvalidInputError, match=r"input\[1\] has role 'bot'"):
        to_messages([{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}])


def test_batch_error_names_the_input() -> None:
    with pytest.raises(InvalidInputError, match=r"inputs\[1\] is an empty prompt"):
        to_batch(["fine", ""])


def test_string_becomes_user_turn_and_system_prompt_is_prepended() -> None:
    assert to_messages("hi", system_prompt="be brief") == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    )


def test_batch_accepts_prompt_conversation_or_list() -> None:
    conversation = [{"role": "user", "content": "a"}]
    assert len(to_batch("one")) == 1
    assert len(to_batch(conversation)) == 1
    assert len(to_batch(["a", conversation, "c"])) == 3
    with pytest.raises(InvalidInputError, match="non-empty list"):
        to_batch([])


def test_invalid_input_sends_no_request(scripted) -> None:
    with pytest.raises(InvalidInputError):
        scripted.generate(["fine", [{"role": "user", "content": 3}]])
    assert scripted.requests == []

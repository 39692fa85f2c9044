"""The older llama.cpp server of the test extras (llama-cpp-server-py-core), checked by raw HTTP: a
whole answer's thinking comes apart in ``reasoning_content``; a stream leaves it inline in
``content``, up to ``</think>``, with no ``<think>`` (the chat template opened the block)."""

from __future__ import annotations

import pytest

from tests.servers.reasoning_server import ReasoningServer
from tests.servers.test_reasoning_server import assert_split, body, chat, stream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_whole_answer_has_its_thinking_apart(legacy_reasoning_llama_server: ReasoningServer) -> None:
    for seed in (1, 2, 3):
        answer = chat(legacy_reasoning_llama_server, body(legacy_reasoning_llama_server, seed=seed))
        (choice,) = answer["choices"]
        assert choice["finish_reason"] == "stop"
        assert choice["message"]["content"].startswith("\n\n")  # this version keeps the blank line
        assert_split(choice["message"])


def test_a_stream_leaves_the_thinking_inline(legacy_reasoning_llama_server: ReasoningServer) -> None:
    chunks = stream(legacy_reasoning_llama_server, body(legacy_reasoning_llama_server, seed=2))
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert not any(d.get("reasoning_content") for d in deltas)
    text = "".join(d.get("content") or "" for d in deltas)
    thought, closing, answer = text.partition("\n</think>\n\n")
    assert closing and thought.strip() and answer.strip(), text
    assert "<think>" not in text


def test_one_choice_a_request(legacy_reasoning_llama_server: ReasoningServer) -> None:
    """Several samples from this server are several requests: it refuses ``n`` above 1."""
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as refused:
        chat(legacy_reasoning_llama_server, body(legacy_reasoning_llama_server, n=2))
    assert "Only one completion choice is allowed" in refused.value.read().decode()

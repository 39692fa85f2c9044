"""The reasoning server fixture, checked by raw HTTP (no nbllm): llama.cpp splits the embedded
model's thinking into ``reasoning_content``, in whole answers, in streams and across samples."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.servers.reasoning_server import ReasoningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

QUESTION = "What is the capital of France?"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def body(server: ReasoningServer, question: str = QUESTION, **more: Any) -> dict[str, Any]:
    return {
        "model": server.model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 200,
        **server.extra_body,
        **more,
    }


def post(server: ReasoningServer, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{server.url}/chat/completions",
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer any"},
    )
    return DIRECT.open(request, timeout=120)


def chat(server: ReasoningServer, payload: dict[str, Any]) -> dict[str, Any]:
    with post(server, payload) as response:
        return json.load(response)


def stream(server: ReasoningServer, payload: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    with post(server, {**payload, "stream": True}) as response:
        for raw in response:
            line = raw.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line.removeprefix("data: ")))
    return chunks


def assert_split(message: dict[str, Any]) -> None:
    assert message["reasoning_content"].strip(), message
    assert message["content"].strip(), message
    for tag in ("<think>", "</think>"):
        assert tag not in message["content"] and tag not in message["reasoning_content"], message


def test_a_whole_answer_has_its_thinking_apart(reasoning_llama_server: ReasoningServer) -> None:
    answer = chat(reasoning_llama_server, body(reasoning_llama_server, seed=1))
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "stop"
    assert_split(choice["message"])
    assert answer["model"] == reasoning_llama_server.model
    assert answer["usage"]["completion_tokens"] > 0


def test_a_stream_sends_thinking_then_the_answer(reasoning_llama_server: ReasoningServer) -> None:
    chunks = stream(reasoning_llama_server, body(reasoning_llama_server, seed=2))
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    kinds = [k for d in deltas for k in ("reasoning_content", "content") if d.get(k)]
    assert kinds.count("reasoning_content") > 1 and "content" in kinds, kinds
    first_content = kinds.index("content")
    assert set(kinds[:first_content]) == {"reasoning_content"}, kinds  # all thinking, then all answer
    assert set(kinds[first_content:]) == {"content"}, kinds
    thought = "".join(d.get("reasoning_content") or "" for d in deltas)
    text = "".join(d.get("content") or "" for d in deltas)
    assert_split({"reasoning_content": thought, "content": text})
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")][-1] == "stop"


def test_every_sample_splits(reasoning_llama_server: ReasoningServer) -> None:
    """Several samples of a prompt (different seeds, a temperature) all split."""
    thoughts = set()
    for seed in (11, 12, 13):
        payload = body(reasoning_llama_server, "Name a fruit.", seed=seed, temperature=0.8)
        answer = chat(reasoning_llama_server, payload)
        message = answer["choices"][0]["message"]
        assert_split(message)
        thoughts.add(message["reasoning_content"])
    assert len(thoughts) > 1  # real samples, not one answer three times


def test_n_choices_in_one_request_all_split(reasoning_llama_server: ReasoningServer) -> None:
    answer = chat(reasoning_llama_server, body(reasoning_llama_server, n=3, seed=5, temperature=0.8))
    assert sorted(c["index"] for c in answer["choices"]) == [0, 1, 2]
    for choice in answer["choices"]:
        assert_split(choice["message"])


def test_without_the_grammar_the_model_does_not_close_its_thought(
    reasoning_llama_server: ReasoningServer,
) -> None:
    """What the grammar is for: left alone, the 135M model never writes ``</think>``, so its whole
    answer stays in the open think block (llama.cpp reports it as reasoning, or as content)."""
    payload = body(reasoning_llama_server, seed=1, max_tokens=40)
    payload.pop("grammar")
    try:
        message = chat(reasoning_llama_server, payload)["choices"][0]["message"]
    except urllib.error.HTTPError as exc:  # pragma: no cover - says what the server said
        raise AssertionError(exc.read()) from None
    assert "</think>" not in (message.get("content") or "")
    assert not (message.get("content") and message.get("reasoning_content")), message

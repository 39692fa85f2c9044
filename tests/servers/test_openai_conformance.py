"""The conformance server (a wire-format fixture answering as the providers' docs say), checked by
raw HTTP: OpenAI's refusals word for word, reasoning tokens by effort, each provider's reasoning
field, and streams."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.servers.openai_conformance import ConformanceServer

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(server: ConformanceServer, body: dict[str, Any]) -> tuple[int, Any]:
    """The status and the JSON body (or, for a stream, the list of chunks before [DONE])."""
    request = urllib.request.Request(
        f"{server.url}/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer sk-anything"},
    )
    try:
        with DIRECT.open(request, timeout=10) as response:
            if body.get("stream"):
                lines = [raw.decode().strip() for raw in response]
                events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
                assert events[-1] == "[DONE]"
                return response.status, [json.loads(e) for e in events[:-1]]
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture
def server(openai_conformance: ConformanceServer) -> ConformanceServer:
    openai_conformance.reset()
    return openai_conformance


def test_max_tokens_is_refused_as_openai_words_it(server: ConformanceServer) -> None:
    status, body = post(server, {"model": "gpt-5-mini", "messages": FRANCE, "max_tokens": 50})
    assert status == 400
    assert body == {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }


@pytest.mark.parametrize(("param", "value", "shown"), [("temperature", 0.2, "0.2"), ("top_p", 0.5, "0.5")])
def test_sampling_other_than_the_default_is_refused(
    server: ConformanceServer, param: str, value: float, shown: str
) -> None:
    status, body = post(server, {"model": "gpt-5-mini", "messages": FRANCE, param: value})
    assert status == 400
    assert body["error"] == {
        "message": f"Unsupported value: '{param}' does not support {shown} with this model. "
        "Only the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": param,
        "code": "unsupported_value",
    }
    assert post(server, {"model": "gpt-5-mini", "messages": FRANCE, param: 1})[0] == 200
    # GPT-5.1 takes sampling at its default effort, none, and refuses it with reasoning on
    assert post(server, {"model": "gpt-5.1", "messages": FRANCE, param: value})[0] == 200
    assert (
        post(server, {"model": "gpt-5.1", "messages": FRANCE, param: value, "reasoning_effort": "low"})[0]
        == 400
    )


@pytest.mark.parametrize(
    ("model", "effort", "supported"),
    [
        ("gpt-5.1", "minimal", "'none', 'low', 'medium', and 'high'"),
        ("gpt-5-mini", "none", "'minimal', 'low', 'medium', and 'high'"),
        ("gpt-5-pro", "low", "'high'"),
        ("o4-mini", "xhigh", "'low', 'medium', and 'high'"),
    ],
)
def test_an_effort_the_model_lacks_is_refused(
    server: ConformanceServer, model: str, effort: str, supported: str
) -> None:
    status, body = post(server, {"model": model, "messages": FRANCE, "reasoning_effort": effort})
    assert status == 400
    assert body["error"] == {
        "message": f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model. "
        f"Supported values are: {supported}.",
        "type": "invalid_request_error",
        "param": "reasoning_effort",
        "code": "unsupported_value",
    }


def test_every_request_is_kept_refused_or_not(server: ConformanceServer) -> None:
    assert server.requests() == []
    post(server, {"model": "gpt-5-mini", "messages": FRANCE, "max_tokens": 5})
    post(server, {"model": "gpt-5-mini", "messages": FRANCE, "max_completion_tokens": 500})
    assert [("max_tokens" in b, b.get("max_completion_tokens")) for b in server.requests()] == [
        (True, None),
        (False, 500),
    ]
    server.reset()
    assert server.requests() == []


@pytest.mark.parametrize(("effort", "tokens"), [("minimal", 0), ("low", 64), ("medium", 192), ("high", 512)])
def test_reasoning_tokens_follow_the_effort(server: ConformanceServer, effort: str, tokens: int) -> None:
    status, body = post(server, {"model": "gpt-5-mini", "messages": FRANCE, "reasoning_effort": effort})
    assert status == 200
    message = body["choices"][0]["message"]
    assert message["content"] == "The capital of France is Paris."
    assert "reasoning" not in message and "reasoning_content" not in message  # OpenAI hides it
    usage = body["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == tokens
    assert usage["completion_tokens"] == tokens + 6  # six visible words


def test_the_default_effort_is_medium_and_verbosity_changes_the_answer(server: ConformanceServer) -> None:
    _, body = post(server, {"model": "gpt-5-mini", "messages": FRANCE, "verbosity": "low"})
    assert body["choices"][0]["message"]["content"] == "Paris."
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 192


def test_a_budget_spent_on_reasoning_leaves_no_answer(server: ConformanceServer) -> None:
    body = {
        "model": "gpt-5-mini",
        "messages": FRANCE,
        "reasoning_effort": "high",
        "max_completion_tokens": 100,
    }
    _, answer = post(server, body)
    choice = answer["choices"][0]
    assert choice["message"]["content"] == "" and choice["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 100
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == 100


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("vllm/qwen3", "reasoning"),
        ("vllm-old/qwen3", "reasoning_content"),
        ("openrouter/deepseek-r1", "reasoning"),
    ],
)
def test_each_provider_carries_the_thinking_in_its_field(
    server: ConformanceServer, model: str, field: str
) -> None:
    status, body = post(server, {"model": model, "messages": FRANCE, "temperature": 0.6, "max_tokens": 200})
    assert status == 200
    message = body["choices"][0]["message"]
    assert message["content"] == "The capital of France is Paris."
    assert message[field].startswith("The user asks: What is the capital of France?")
    other = {"reasoning": "reasoning_content", "reasoning_content": "reasoning"}[field]
    assert other not in message
    if model.startswith("openrouter"):
        assert message["reasoning_details"] == [
            {"type": "reasoning.text", "text": message["reasoning"], "format": "unknown", "index": 0}
        ]
        assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_thinking_turned_off_and_thinking_left_inline(server: ConformanceServer) -> None:
    off = {"chat_template_kwargs": {"enable_thinking": False}}
    _, body = post(server, {"model": "vllm/qwen3", "messages": FRANCE, **off})
    assert body["choices"][0]["message"]["reasoning"] is None
    _, body = post(server, {"model": "qwen3-noparser", "messages": FRANCE})
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("<think>\nThe user asks:")
    assert content.endswith("\n</think>\n\nThe capital of France is Paris.")
    _, body = post(
        server, {"model": "openrouter/deepseek-r1", "messages": FRANCE, "reasoning": {"exclude": True}}
    )
    assert "reasoning" not in body["choices"][0]["message"]


def test_n_choices(server: ConformanceServer) -> None:
    _, body = post(server, {"model": "vllm/qwen3", "messages": FRANCE, "n": 3})
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert all(c["message"]["reasoning"] for c in body["choices"])


@pytest.mark.parametrize(
    ("model", "field"), [("vllm/qwen3", "reasoning"), ("vllm-old/qwen3", "reasoning_content")]
)
def test_a_stream_sends_thinking_then_the_answer(server: ConformanceServer, model: str, field: str) -> None:
    body = {"model": model, "messages": FRANCE, "stream": True, "stream_options": {"include_usage": True}}
    status, chunks = post(server, body)
    assert status == 200
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    kinds = [k for d in deltas for k in (field, "content") if d.get(k)]
    first = kinds.index("content")
    assert set(kinds[:first]) == {field} and set(kinds[first:]) == {"content"}
    assert "".join(d.get("content") or "" for d in deltas) == "The capital of France is Paris."
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(kinds)


def test_an_openai_stream_has_the_usage_last(server: ConformanceServer) -> None:
    body = {
        "model": "gpt-5-mini",
        "messages": FRANCE,
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "low",
    }
    _, chunks = post(server, body)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "The capital of France is Paris."
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 64}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


def test_models_are_listed(server: ConformanceServer) -> None:
    with DIRECT.open(f"{server.url}/models", timeout=10) as response:
        ids = {m["id"] for m in json.load(response)["data"]}
    assert {"gpt-5-mini", "gpt-5.1", "gpt-5-pro", "o4-mini", "vllm/qwen3", "openrouter/deepseek-r1"} <= ids

"""A conformance server: chat completions as each provider's documentation says, for reasoning models.

This is a wire-format fixture, not a real provider and no model: its answers are fixed text made
from the prompt. It shows what no server here can (OpenAI's refusals and usage details, vLLM's and
OpenRouter's ``reasoning`` field), so that nbllm can be tested against the documented shapes; it is
never the only proof of a feature (tests/servers/reasoning_server.py is a real server that thinks).

Models, chosen by the request's ``model``, and the documents each follows:

- ``gpt-5-mini``, ``gpt-5.1``, ``gpt-5-pro``, ``o4-mini``: OpenAI reasoning models. The thinking is
  hidden; ``usage.completion_tokens_details.reasoning_tokens`` counts it and ``completion_tokens``
  is visible + reasoning tokens; ``max_completion_tokens`` bounds both, and a budget spent on
  reasoning gives ``content: ""`` with ``finish_reason: "length"``
  (https://platform.openai.com/docs/guides/reasoning, "Allocating space for reasoning";
  https://platform.openai.com/docs/api-reference/chat/create). ``reasoning_effort`` values by model
  (https://platform.openai.com/docs/guides/latest-model): gpt-5-mini minimal/low/medium/high
  (default medium), gpt-5.1 none/low/medium/high (default none), gpt-5-pro high only, o4-mini
  low/medium/high (default medium). ``verbosity`` low/medium/high on the GPT-5 models. Refusals,
  400 with OpenAI's error body (wording as OpenAI's API returns it, quoted in e.g.
  github.com/griptape-ai/ComfyUI-Griptape/issues/312, github.com/holoviz/lumen/pull/1087,
  github.com/livekit/agents/pull/3966, github.com/nextai-translator/nextai-translator/issues/1841):
  ``max_tokens`` (unsupported_parameter: use ``max_completion_tokens``), ``temperature`` or
  ``top_p`` other than 1 (unsupported_value: only the default (1)) except on gpt-5.1 at effort
  ``none``, where they are taken (github.com/vercel/ai/issues/10932 citing the latest-model guide),
  and an effort or verbosity the model lacks (unsupported_value naming the supported values).
- ``vllm/qwen3``: vLLM >= 0.11 with a reasoning parser: ``message.reasoning``, stream deltas
  ``delta.reasoning`` then ``delta.content``; ``chat_template_kwargs: {"enable_thinking": false}``
  turns thinking off (https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/).
- ``vllm-old/qwen3``: the same as older vLLM words it, ``reasoning_content``
  (https://docs.vllm.ai/en/v0.8.3/features/reasoning_outputs.html).
- ``openrouter/deepseek-r1``: ``message.reasoning`` and ``message.reasoning_details``
  (``reasoning.text`` items), reasoning tokens in usage; ``reasoning: {"exclude": true}`` leaves the
  reasoning out (https://openrouter.ai/docs/use-cases/reasoning-tokens).
- ``qwen3-noparser``: a Qwen3 served without a reasoning parser: the thinking stays inline,
  ``content`` is ``"<think>\\n…\\n</think>\\n\\n" + answer``.

The answer is "The capital of France is Paris." for a prompt naming France (verbosity low:
"Paris.", high: a sentence more), else "You said: <prompt>". Tokens are counted as words. ``n``
gives n equal choices. ``stream: true`` answers as server-sent events, a word a chunk; with
``stream_options: {"include_usage": true}`` a last chunk has ``choices: []`` and the usage (as
OpenAI's API reference says). Any key or none is accepted. Every request body is kept:
``GET /_requests`` returns them in order, ``POST /_reset`` clears them. ``GET /health`` answers
when the server is up.

    python -m tests.servers.openai_conformance --port 8125
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

CREATED = 1_767_225_600  # fixed, so answers are the same every run

# Hidden reasoning tokens an OpenAI model spends at each effort (made-up, increasing numbers).
REASONING_TOKENS = {"none": 0, "minimal": 0, "low": 64, "medium": 192, "high": 512, "xhigh": 1024}


@dataclass(frozen=True)
class Model:
    """What a model name stands for: whose wire format, and for OpenAI's models which efforts."""

    name: str
    kind: str  # openai | vllm | vllm-old | openrouter | noparser
    efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    verbosity: bool = False
    sampling_at_none: bool = False  # temperature and top_p are taken at effort "none"


MODELS = {
    m.name: m
    for m in (
        Model("gpt-5-mini", "openai", ("minimal", "low", "medium", "high"), "medium", verbosity=True),
        Model("gpt-5.1", "openai", ("none", "low", "medium", "high"), "none", True, sampling_at_none=True),
        Model("gpt-5-pro", "openai", ("high",), "high", verbosity=True),
        Model("o4-mini", "openai", ("low", "medium", "high"), "medium"),
        # an Azure-style deployment name for an o-series model: no client can know it by name
        Model("my-deployment", "openai", ("low", "medium", "high"), "medium"),
        Model("vllm/qwen3", "vllm"),
        Model("vllm-old/qwen3", "vllm-old"),
        Model("openrouter/deepseek-r1", "openrouter"),
        Model("qwen3-noparser", "noparser"),
    )
}


def quoted_list(values: tuple[str, ...]) -> str:
    """OpenAI's way of listing values: 'a', 'b', and 'c'."""
    items = [f"'{v}'" for v in values]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def openai_error(message: str, param: str | None, code: str, status: int = 400) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return web.json_response(body, status=status)


def unsupported_value(param: str, value: Any, supported: str) -> web.Response:
    shown = f"'{value}'" if isinstance(value, str) else json.dumps(value)
    return openai_error(
        f"Unsupported value: '{param}' does not support {shown} with this model. {supported}",
        param,
        "unsupported_value",
    )


def refusal(model: Model, body: dict[str, Any]) -> web.Response | None:
    """OpenAI's 400 for what a reasoning model does not take, or None."""
    if "max_tokens" in body:
        return openai_error(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    effort = body.get("reasoning_effort", model.default_effort)
    if effort not in model.efforts:
        return unsupported_value(
            "reasoning_effort", effort, f"Supported values are: {quoted_list(model.efforts)}."
        )
    if not (model.sampling_at_none and effort == "none"):
        for param in ("temperature", "top_p"):
            value = body.get(param)
            if value is not None and value != 1:
                return unsupported_value(param, value, "Only the default (1) value is supported.")
    verbosity = body.get("verbosity")
    if verbosity is not None and (not model.verbosity or verbosity not in ("low", "medium", "high")):
        supported = ("low", "medium", "high") if model.verbosity else ("medium",)
        return unsupported_value("verbosity", verbosity, f"Supported values are: {quoted_list(supported)}.")
    return None


def prompt_text(body: dict[str, Any]) -> str:
    """The last user message's text (string content or text parts)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def answer_text(prompt: str, verbosity: str = "medium") -> str:
    if "france" in prompt.lower():
        return {
            "low": "Paris.",
            "medium": "The capital of France is Paris.",
            "high": "The capital of France is Paris. It is also the largest city in France.",
        }[verbosity]
    return f"You said: {prompt}"


def thought_text(prompt: str) -> str:
    return f"The user asks: {prompt} I recall the answer and say it in one sentence."


def words(text: str) -> list[str]:
    """The text cut into tokens: a word with the space after it."""
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def count_prompt(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        text = (
            " ".join(p.get("text", "") for p in content) if isinstance(content, list) else str(content or "")
        )
        total += len(text.split()) + 3  # a few tokens of framing a message, as chat formats have
    return total


@dataclass
class Choice:
    """One choice's parts before they are put in a provider's wire format."""

    content: str | None
    reasoning: str | None
    finish_reason: str
    visible_tokens: int
    reasoning_tokens: int


def openai_choice(model: Model, body: dict[str, Any]) -> Choice:
    effort = body.get("reasoning_effort", model.default_effort) or "medium"
    reasoning = REASONING_TOKENS[effort]
    visible = words(answer_text(prompt_text(body), body.get("verbosity") or "medium"))
    budget = body.get("max_completion_tokens")
    if budget is None or budget >= reasoning + len(visible):
        return Choice("".join(visible), None, "stop", len(visible), reasoning)
    if budget <= reasoning:  # the budget went on reasoning: no visible answer
        return Choice("", None, "length", 0, budget)
    shown = visible[: budget - reasoning]
    return Choice("".join(shown), None, "length", len(shown), reasoning)


def open_choice(model: Model, body: dict[str, Any]) -> Choice:
    """A model whose thinking is shown (vLLM, OpenRouter, no parser)."""
    prompt = prompt_text(body)
    thinking = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
    thought = words(thought_text(prompt)) if thinking else []
    visible = words(answer_text(prompt))
    budget = body.get("max_completion_tokens", body.get("max_tokens"))
    finish = "stop"
    if budget is not None and budget < len(thought) + len(visible):
        finish = "length"
        thought, visible = thought[:budget], visible[: max(0, budget - len(thought))]
    reasoning = "".join(thought) if thought else None
    content: str | None = "".join(visible)
    if model.kind == "noparser":
        if reasoning is not None:
            closed = "\n</think>\n\n" if finish == "stop" or visible else ""
            content = f"<think>\n{reasoning}{closed}{content}"
        reasoning = None
    elif finish == "length" and not visible:
        content = None  # vLLM: the thinking never ended, so there is no content
    return Choice(content, reasoning, finish, len(visible), len(thought))


def reasoning_fields(model: Model, body: dict[str, Any], reasoning: str | None) -> dict[str, Any]:
    """The message (or delta) fields a provider carries the thinking in."""
    if model.kind == "vllm":
        return {"reasoning": reasoning}
    if model.kind == "vllm-old":
        return {"reasoning_content": reasoning}
    if model.kind == "openrouter":
        if (body.get("reasoning") or {}).get("exclude") or reasoning is None:
            return {}
        details = [{"type": "reasoning.text", "text": reasoning, "format": "unknown", "index": 0}]
        return {"reasoning": reasoning, "reasoning_details": details}
    return {}


def usage(model: Model, body: dict[str, Any], choices: list[Choice]) -> dict[str, Any]:
    prompt = count_prompt(body)
    completion = sum(c.visible_tokens + c.reasoning_tokens for c in choices)
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if model.kind in ("openai", "openrouter"):
        result["prompt_tokens_details"] = {"cached_tokens": 0}
        result["completion_tokens_details"] = {"reasoning_tokens": sum(c.reasoning_tokens for c in choices)}
    return result


def completion(model: Model, body: dict[str, Any], choices: list[Choice]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-conformance",
        "object": "chat.completion",
        "created": CREATED,
        "model": model.name,
        "choices": [
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": c.content,
                    "refusal": None,
                    **reasoning_fields(model, body, c.reasoning),
                },
                "logprobs": None,
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(choices)
        ],
        "usage": usage(model, body, choices),
    }


def chunk(model: Model, choices: list[dict[str, Any]], with_usage: bool) -> bytes:
    data: dict[str, Any] = {
        "id": "chatcmpl-conformance",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model.name,
        "choices": choices,
    }
    if with_usage:
        data["usage"] = None
    return f"data: {json.dumps(data)}\n\n".encode()


async def stream(
    request: web.Request, model: Model, body: dict[str, Any], choices: list[Choice]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    for i, c in enumerate(choices):
        first = {
            "index": i,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
        await response.write(chunk(model, [first], with_usage))
        for piece in words(c.reasoning or ""):
            delta = reasoning_fields(model, body, piece)  # each piece in the provider's field(s)
            if delta:
                part = {"index": i, "delta": delta, "logprobs": None, "finish_reason": None}
                await response.write(chunk(model, [part], with_usage))
        for piece in words(c.content or ""):
            part = {"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
            await response.write(chunk(model, [part], with_usage))
        last = {"index": i, "delta": {}, "logprobs": None, "finish_reason": c.finish_reason}
        await response.write(chunk(model, [last], with_usage))
    if with_usage:
        data = {
            "id": "chatcmpl-conformance",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model.name,
            "choices": [],
            "usage": usage(model, body, choices),
        }
        await response.write(f"data: {json.dumps(data)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def make_app() -> web.Application:
    received: list[dict[str, Any]] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return openai_error("We could not parse the JSON body of your request.", None, "invalid_json")
        received.append(body)
        model = MODELS.get(body.get("model", ""))
        if model is None:
            return openai_error(
                f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                None,
                "model_not_found",
                status=404,
            )
        if model.kind == "openai":
            refused = refusal(model, body)
            if refused is not None:
                return refused
        make = openai_choice if model.kind == "openai" else open_choice
        choices = [make(model, body) for _ in range(int(body.get("n") or 1))]
        if body.get("stream"):
            return await stream(request, model, body, choices)
        return web.json_response(completion(model, body, choices))

    async def models(_: web.Request) -> web.Response:
        data = [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "conformance"} for name in MODELS
        ]
        return web.json_response({"object": "list", "data": data})

    async def requests(_: web.Request) -> web.Response:
        return web.json_response(received)

    async def reset(_: web.Request) -> web.Response:
        received.clear()
        return web.json_response({})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/_requests", requests)
    app.router.add_post("/_reset", reset)
    app.router.add_get("/health", health)
    return app


DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class ConformanceServer:
    """The running conformance server: its base URL (``…/v1``) and the request bodies it got."""

    url: str
    root: str

    def requests(self) -> list[dict[str, Any]]:
        with DIRECT.open(f"{self.root}/_requests", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        DIRECT.open(
            urllib.request.Request(f"{self.root}/_reset", data=b"", method="POST"), timeout=10
        ).close()


@pytest.fixture(scope="session")
def openai_conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConformanceServer]:
    """The conformance server on 127.0.0.1 (a wire-format fixture: answers as the docs say)."""
    from tests.conftest import free_port, stop_process, wait_http

    port = free_port()
    log = tmp_path_factory.mktemp("openai-conformance") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.openai_conformance", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).parents[2]),
        )
    root = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{root}/health", timeout=30, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(
                f"the conformance server did not start ({exc}):\n{log.read_text()[-3000:]}"
            ) from None
        yield ConformanceServer(f"{root}/v1", root)
    finally:
        stop_process(proc)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)

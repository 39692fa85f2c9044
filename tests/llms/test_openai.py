"""OpenAILLM against a real OpenAI-compatible server on 127.0.0.1 (llama-cpp-python's own)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

import nbllm
from nbllm import AuthenticationError, ModelNotFoundError, OpenAILLM, TransientBackendError
from tests.conftest import SERVER_ALIAS, free_port

pytestmark = pytest.mark.slow

PLANTED_KEY = "sk-nbllm-planted-secret-0123456789"


def test_n_generations_exactly_with_statistics(server_llm: OpenAILLM) -> None:
    # the server returns one choice whatever n is; the rest come from separate calls
    outputs = server_llm.generate(
        ["What is the capital of France?", "Name a fruit."], num_generations=3, max_tokens=20
    )
    assert [len(o.generations) for o in outputs] == [3, 3]
    for output in outputs:
        assert output.model_name == SERVER_ALIAS
        for g in output.generations:
            assert g.ok and g.text
            assert g.stats.input_tokens > 5 and 0 < g.stats.output_tokens <= 20
            assert g.stats.latency > 0 and g.stats.finish_reason in ("stop", "length")


def test_uses_the_aiohttp_transport_by_default(server_llm: OpenAILLM) -> None:
    server_llm.run("hi", max_tokens=3)
    assert "AioHttp" in type(server_llm.endpoint._client._client).__name__
    httpx_llm = OpenAILLM(model=SERVER_ALIAS, base_url=server_llm.base_url, transport="httpx", cache=False)
    assert httpx_llm.run("hi", max_tokens=3)
    assert "AioHttp" not in type(httpx_llm.endpoint._client._client).__name__


def test_stop_sequences(server_llm: OpenAILLM) -> None:
    text = server_llm.run("Count from 1 to 10 separated by commas.", temperature=0, stop=["5"], max_tokens=40)
    assert "5" not in text and "6" not in text


def test_seed_reproducibility(server_llm: OpenAILLM) -> None:
    a = server_llm.run("Invent a name for a ship.", seed=11, temperature=1.0, max_tokens=15, fresh=True)
    b = server_llm.run("Invent a name for a ship.", seed=11, temperature=1.0, max_tokens=15, fresh=True)
    assert a == b


def test_rerun_is_a_cache_hit(server_llm: OpenAILLM) -> None:
    server_llm.run("Say one word.", max_tokens=5)
    (again,) = server_llm.generate("Say one word.", max_tokens=5)
    assert again.generations[0].stats.cache_hit


def test_wrong_model_name_is_a_clear_error(llama_server: str) -> None:
    llm = OpenAILLM(model="gpt-nonexistent", base_url=llama_server, cache=False)
    (output,) = llm.generate("hi")
    error = output.generations[0].error
    assert isinstance(error, ModelNotFoundError)
    assert "'gpt-nonexistent' is not served" in str(error) and SERVER_ALIAS in str(error)
    with pytest.raises(ModelNotFoundError):
        llm.run("hi")


def test_unreachable_server_is_a_transient_error_after_retries() -> None:
    llm = OpenAILLM(model="m", base_url=f"http://127.0.0.1:{free_port()}/v1", cache=False, max_retries=1)
    llm.engine.retry.initial_delay = 0.01
    (output,) = llm.generate("hi")
    assert isinstance(output.generations[0].error, TransientBackendError)
    assert output.generations[0].stats.attempts >= 1


def test_async_api_and_structured_output(server_llm: OpenAILLM) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }

    async def main():
        return await server_llm.agenerate(
            "Give a person as JSON with name and age.", structured_output=schema, max_tokens=60
        )

    output = asyncio.run(main())
    g = output.generations[0]
    assert g.error is None, g.text
    assert isinstance(g.parsed, dict) and isinstance(g.parsed["age"], int)


def test_no_key_for_a_remote_endpoint_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        OpenAILLM(model="gpt-4o-mini").generate("hi")


def test_api_key_never_appears_anywhere(
    llama_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    llm = OpenAILLM(
        model=SERVER_ALIAS, base_url=llama_server, api_key=PLANTED_KEY, cache_path=str(tmp_path / "c.sqlite3")
    )
    llm.enable_logging(tmp_path / "events.log")
    llm.run("Say hi.", max_tokens=5)
    bad = OpenAILLM(model="nope", base_url=llama_server, api_key=PLANTED_KEY, cache=False)
    error = bad.generate("hi")[0].generations[0].error
    checkpoint = llm.save_checkpoint(tmp_path / "ckpt.json")
    places = {
        "repr": repr(llm),
        "str": str(llm),
        "dump": json.dumps(llm.model_dump(mode="json")),
        "checkpoint": checkpoint.read_text(),
        "log file": (tmp_path / "events.log").read_text(),
        "cache": (tmp_path / "c.sqlite3").read_bytes().decode("latin-1"),
        "error": str(error) + repr(error),
        "captured logs": caplog.text,
    }
    for where, text in places.items():
        assert PLANTED_KEY not in text, where
    restored = nbllm.LLM.from_checkpoint(checkpoint, api_key=PLANTED_KEY)
    assert isinstance(restored, OpenAILLM) and restored.run("Say hi.", max_tokens=5)


@pytest.mark.parametrize(
    ("status", "text", "refused"),
    [
        (500, "1 validation error: Input should be 'text' or 'json_object'", True),
        (500, "Only one completion choice is allowed", True),
        (400, "Invalid model name passed in model=nope", True),
        (500, "internal error, the GPU fell over", False),
        (503, "Service Unavailable", False),
        (429, "Rate limit exceeded", False),
        (401, "Invalid API key", False),
    ],
)
def test_a_request_refused_for_its_shape_is_told_apart_from_a_passing_failure(
    status: int, text: str, refused: bool
) -> None:
    from nbllm.llms.openai.errors import _status_error, refuses_request

    assert refuses_request(status, text) is refused
    error = _status_error(status, text, {})
    if refused:
        assert type(error) is nbllm.BackendError and "not retried" in str(error)
    assert isinstance(error, TransientBackendError) is (not refused and status in (429, 500, 503))

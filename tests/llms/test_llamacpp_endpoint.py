"""The embedded model's server reached through the one OpenAI endpoint: one per server process,
made anew when its address or key changes, and what a failed call becomes (no model runs)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from nbllm import LlamaCppLLM
from nbllm.errors import BackendError, ServerDiedError, TransientBackendError
from nbllm.llms.llamacpp.http import endpoint_for

try:  # the httpx the client is built on (openai 3 moved to httpx2)
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]
REQUEST = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


class FakeServer:
    """What the raw calls use of a SharedServer."""

    key = "k-0123456789"

    def died_error(self, proc: Any) -> BackendError:
        return ServerDiedError("the embedded model's server died")


class DeadProc:
    def wait(self, timeout: float | None = None) -> int:
        return -9


def test_one_endpoint_per_server_made_anew_when_its_address_or_key_changes() -> None:
    server = FakeServer()
    first = endpoint_for(server, "http://127.0.0.1:4001", "m")  # type: ignore[arg-type]
    assert first.where == "http://127.0.0.1:4001/v1" and first.key() == server.key
    assert first.check_model is False and server.key not in repr(first)
    assert endpoint_for(server, "http://127.0.0.1:4001", "m") is first  # type: ignore[arg-type]
    moved = endpoint_for(server, "http://127.0.0.1:4002", "m")  # type: ignore[arg-type]
    assert moved is not first and moved.where == "http://127.0.0.1:4002/v1"
    server.key = "k-new"
    assert endpoint_for(server, "http://127.0.0.1:4002", "m").key() == "k-new"  # type: ignore[arg-type]


def _failed(exc: Exception, proc: Any = None) -> BackendError:
    llm = LlamaCppLLM(cache=False, n_ctx=512)
    server = FakeServer()
    endpoint = endpoint_for(server, "http://127.0.0.1:4003", llm.model_name)  # type: ignore[arg-type]
    return asyncio.run(llm._failed(exc, server, proc, endpoint))  # type: ignore[arg-type,return-value]


def test_a_dropped_connection_is_the_servers_death_or_a_passing_fault() -> None:
    dropped = openai.APIConnectionError(request=REQUEST)
    dropped.__cause__ = ConnectionResetError("reset by peer")
    passing = _failed(dropped)  # no process to ask: a passing fault, retried
    assert isinstance(passing, TransientBackendError) and "dropped the connection" in str(passing)
    assert "ConnectionResetError" in str(passing)
    assert isinstance(_failed(dropped, DeadProc()), ServerDiedError)  # not retried


def test_a_refusal_for_the_context_names_n_ctx_and_loading_is_retried() -> None:
    body = {"error": {"message": "the request exceeds the available context size", "code": 400}}
    refused = openai.BadRequestError(
        "refused", response=httpx.Response(400, request=REQUEST, json=body), body=body["error"]
    )
    error = _failed(refused)
    assert type(error) is BackendError and "n_ctx=512" in str(error) and "context size" in str(error)
    body = {"error": {"message": "Loading model", "code": 503}}
    loading = openai.InternalServerError(
        "loading", response=httpx.Response(503, request=REQUEST, json=body), body=body["error"]
    )
    assert isinstance(_failed(loading), TransientBackendError)

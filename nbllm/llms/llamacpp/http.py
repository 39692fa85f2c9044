"""Reaching the embedded model's server on 127.0.0.1: the OpenAI endpoint for the address it
runs at now (the OpenAI wire format is spoken in nbllm.llms.openai, once for every backend),
and what a dropped connection means (the server died, or a passing fault).

`endpoint_for` and `lost` run on nbllm's I/O loop; `wait_dead` blocks, so it runs in a worker
thread (or on the caller's thread for the sync helpers).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

from pydantic import SecretStr

from nbllm.errors import BackendError, TransientBackendError
from nbllm.llms.llamacpp.shared import SharedServer
from nbllm.llms.openai.endpoint import OpenAIEndpoint

# No read timeout (a long answer from a busy CPU takes what it takes: the engine's own timeout
# bounds a request); a connection that cannot be made in 30 s is a fault.
CONNECT_TIMEOUT = 30.0

# One endpoint (one client, one connection pool) per server process, made again when the
# server's address or key changes: every LLM on that server shares it.
_ENDPOINTS: weakref.WeakKeyDictionary[SharedServer, OpenAIEndpoint] = weakref.WeakKeyDictionary()


def endpoint_for(process: SharedServer, address: str, model: str) -> OpenAIEndpoint:
    """The OpenAI-compatible endpoint of `process`'s server at `address` (its /v1 routes)."""
    where = address + "/v1"
    endpoint = _ENDPOINTS.get(process)
    if endpoint is None or endpoint.where != where or endpoint.key() != process.key:
        if endpoint is not None:
            endpoint.close_soon()  # the server it reached is gone
        endpoint = OpenAIEndpoint(
            model,
            where,
            SecretStr(process.key),
            "aiohttp",
            check_model=False,  # llama.cpp's server serves one model, whatever it is called
            timeout=(None, CONNECT_TIMEOUT),
        )
        _ENDPOINTS[process] = endpoint
    return endpoint


def json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def wait_dead(proc: Any, timeout: float = 2.0) -> bool:
    """Whether the server process has died (waiting a moment: a crash drops the connection first)."""
    try:
        proc.wait(timeout)
    except Exception:
        return False
    return True


async def lost(process: SharedServer, proc: Any, exc: BaseException) -> BackendError:
    """A dropped connection: the server's death (not retried) or a passing fault (retried)."""
    if proc is not None and await asyncio.to_thread(wait_dead, proc):
        return process.died_error(proc)
    return TransientBackendError(
        f"the embedded model's server dropped the connection: {type(exc).__name__}: {exc}"
    )

"""The endpoint an OpenAILLM holds: where requests go, the key that goes with them (never in a
repr), the `openai` client, what the endpoint was found to accept, and the calls that cross to
it (post a body, stream one, turn the client's exceptions into nbllm's).

One object instead of the LLM's private members, so the helpers that speak the wire format
(stream.py, structured.py, steps.py, batch.py) take it, typed, and reach into nothing.

The client is made and used on nbllm's I/O loop (its connection pool belongs to that one
loop); ``close_soon`` may run on any thread. The rest is safe on any thread.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from typing import Any, Optional

from pydantic import SecretStr

from nbllm.engine import loop
from nbllm.engine.requests import RawRequest
from nbllm.errors import AuthenticationError, NBLLMError, TransientBackendError, public_url
from nbllm.llms.openai import connection, dialect, wire
from nbllm.llms.openai.capabilities import EndpointCapabilities, capabilities_of

logger = logging.getLogger("nbllm")


class OpenAIEndpoint:
    """One model at one OpenAI-compatible URL, as an LLM's requests reach it."""

    def __init__(
        self,
        model: str,
        base_url: Optional[str],
        api_key: Optional[SecretStr],
        transport: str,
        check_model: bool = True,
        timeout: Optional[tuple[Optional[float], float]] = None,
    ) -> None:
        self.model = model
        self.where = connection.endpoint_url(base_url)  # base_url, OPENAI_BASE_URL or OpenAI's
        self.transport = transport
        self.check_model = check_model
        self.timeout = timeout  # (a request's seconds, a connection's); None: the client's default
        self._api_key = api_key
        self._client: Any = None
        self._model_check: Optional[asyncio.Future[None]] = None

    def __repr__(self) -> str:
        return f"OpenAIEndpoint(model={self.model!r}, url={public_url(self.where)!r})"

    # -- the key ------------------------------------------------------------------------------
    def key(self) -> str:
        """The key this endpoint is sent (AuthenticationError when one is needed and missing)."""
        return connection.key_for(self._api_key, self.where)

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in an error, log or output."""
        try:
            key = self.key()
        except AuthenticationError:
            return ()
        return (key,) if key != connection.NO_KEY else ()

    def convert(self, exc: Exception) -> NBLLMError:
        """The client's exception as nbllm's, with no secret in it."""
        return connection.convert_error(exc, self.secrets(), self.where, self._api_key is not None)

    # -- what it takes ----------------------------------------------------------------------
    @property
    def capabilities(self) -> EndpointCapabilities:
        """What was found out about this endpoint; shared by every LLM on the same URL and model."""
        return capabilities_of(self.where, self.model)

    def learn(self, name: str, value: Any, how: str) -> None:
        """Remember a capability and how it was found (said once in the log)."""
        found = self.capabilities
        if getattr(found, name) != value or name not in found.notes:
            setattr(found, name, value)
            found.notes[name] = how
            logger.info("%s at %s: %s = %r (%s)", self.model, public_url(self.where), name, value, how)

    def learn_refusal(self, refusal: Optional[str], body: dict[str, Any]) -> Optional[tuple[str, str]]:
        """Remember a parameter the server refused (see dialect.learn); what was learnt, or None."""
        learnt = dialect.learn(refusal, body, self.capabilities) if refusal is not None else None
        if learnt is not None:
            name, how = learnt
            self.capabilities.notes[name] = how
            logger.info("%s at %s: %s (%s)", self.model, public_url(self.where), name, how)
        return learnt

    # -- the client and the calls (the I/O loop) ---------------------------------------------
    async def client(self) -> Any:
        """The `openai` client, made on first use; the model is checked once per connection."""
        if self._client is None:
            if "openai" not in sys.modules:  # its first import takes a second: not on the I/O loop
                await asyncio.to_thread(importlib.import_module, "openai")
            if self._client is None:  # no other request made it meanwhile
                self._client = connection.make_client(self.key(), self.where, self.transport, self.timeout)
                loop.close_at_exit(self._client.close)
        if self.check_model:
            if self._model_check is None:
                self._model_check = asyncio.ensure_future(self._check_model(self._client))
            check = self._model_check
            try:
                await asyncio.shield(check)
            except TransientBackendError:
                if self._model_check is check:
                    self._model_check = None  # a passing fault: the next request asks again
                raise
        return self._client

    async def _check_model(self, client: Any) -> None:
        """Asked once per connection: the model is served, and its context length if stated."""
        length = await connection.check_model(client, self.model, self.where, self.convert)
        if length:
            self.learn("context_length", length, "stated in the server's model list")

    async def post(self, request: RawRequest, body: dict[str, Any]) -> Any:
        """The server's answer to `body`, as JSON."""
        return await wire.post(await self.client(), request, body)

    async def post_stream(self, request: RawRequest, body: dict[str, Any]) -> Any:
        """An async iterator of the stream's chunks."""
        return await wire.post_stream(await self.client(), request, body)

    def close_soon(self) -> None:
        """Let go of the client from any thread (its pool is closed on the I/O loop)."""
        client, self._client = self._client, None
        self._model_check = None
        if client is not None:
            connection.close_soon(client)

    def close(self) -> None:
        """Close the client now (blocks the calling thread until it is closed)."""
        client, self._client = self._client, None
        self._model_check = None
        if client is not None:
            loop.run_sync(client.close())

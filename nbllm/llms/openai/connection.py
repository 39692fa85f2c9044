"""The connection to an OpenAI-compatible server: where requests go, which key goes with them,
the `openai` async client, and the one-time probe of the server's model list.

``make_client`` and ``check_model`` run on nbllm's I/O loop (the client's connection pool
belongs to that one loop); ``close_soon`` may run on any thread, from a finalizer, and hands
the closing to the loop. The rest are plain functions, safe on any thread.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Callable
from typing import Any, Optional

from pydantic import SecretStr

from nbllm.engine import loop
from nbllm.errors import (
    AuthenticationError,
    MissingDependencyError,
    ModelNotFoundError,
    NBLLMError,
    TransientBackendError,
    public_url,
    redact,
)
from nbllm.llms.openai.errors import convert
from nbllm.llms.openai.models import context_length

OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = "not-needed"  # what a server that needs no key is sent


def endpoint_url(base_url: Optional[str]) -> str:
    """The endpoint requests go to: base_url, else OPENAI_BASE_URL (as the openai client reads
    it), else the OpenAI API."""
    return base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL


def sends_env_key(where: str) -> bool:
    """OPENAI_API_KEY is for OpenAI: another server gets a key only when the user passes it."""
    return where.rstrip("/").startswith(OPENAI_URL)


def key_for(api_key: Optional[SecretStr], where: str) -> str:
    if api_key is not None:
        return api_key.get_secret_value()
    if not sends_env_key(where):
        return NO_KEY
    if os.environ.get("OPENAI_API_KEY"):
        return os.environ["OPENAI_API_KEY"]
    raise AuthenticationError(
        "no API key: pass OpenAILLM(api_key=...) or set OPENAI_API_KEY "
        "(another OpenAI-compatible server gets a key only through api_key=)."
    )


def convert_error(exc: Exception, secrets: tuple[str, ...], where: str, key_given: bool) -> NBLLMError:
    """The `openai` client's exception as nbllm's, the keys redacted; a refused key says when
    the environment's key was not sent to this server."""
    error = convert(exc, secrets, public_url(where))
    if isinstance(error, AuthenticationError) and not key_given and not sends_env_key(where):
        error = redact(
            AuthenticationError(
                f"{error.message} nbllm sends OPENAI_API_KEY only to the OpenAI API: pass "
                "api_key=... for this server."
            ),
            (),
        )
    return error


def make_client(
    key: str, where: str, transport: str, timeout: Optional[tuple[Optional[float], float]] = None
) -> Any:
    """An `openai.AsyncOpenAI` without retries of its own (the engine's retry); `timeout`, the
    seconds (None: no limit) a request and a connection may take, replaces the client's default."""
    try:
        import openai
    except ImportError:
        raise MissingDependencyError("OpenAILLM needs openai: pip install 'openai[aiohttp]'") from None
    http_client = None
    if transport == "aiohttp":
        try:
            http_client = openai.DefaultAioHttpClient()
        except RuntimeError:
            raise MissingDependencyError(
                "the aiohttp transport needs openai's extra: pip install 'openai[aiohttp]' "
                "(or pass transport='httpx')"
            ) from None
    where, headers = basic_auth(where)
    options: dict[str, Any] = {}
    if timeout is not None:
        options["timeout"] = openai.Timeout(timeout[0], connect=timeout[1])
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=where,
        max_retries=0,
        http_client=http_client,
        default_headers=headers,
        **options,
    )


def basic_auth(where: str) -> tuple[str, dict[str, str] | None]:
    """A URL's user and password as a basic-auth header (which replaces the key's bearer header,
    as httpx does with such a URL; aiohttp refuses a URL with both), and the URL without them."""
    parts = urllib.parse.urlsplit(where)
    if "@" not in parts.netloc:
        return where, None
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, {"Authorization": f"Basic {token}"}


def close_soon(client: Any) -> None:
    """Close a client whose LLM was garbage-collected (its pool lives on nbllm's loop)."""
    try:
        loop.submit(client.close())
    except RuntimeError:
        pass  # the interpreter is shutting down


async def check_model(
    client: Any, model: str, where: str, to_error: Callable[[Exception], NBLLMError]
) -> Optional[int]:
    """Servers that ignore unknown model names (llama.cpp's) would hide a typo: ask once.
    Returns the model's context length where the server's model list states it."""
    try:
        models = [m async for m in client.models.list()]
        names = [m.id for m in models]
    except Exception as exc:
        error = to_error(exc)
    else:
        error = None
    if error is not None:
        if isinstance(error, (AuthenticationError, TransientBackendError)):
            raise error
        names = []  # the server does not list models: nothing to check against
    if names and model not in names:
        raise ModelNotFoundError(
            f"model {model!r} is not served at {public_url(where)}; available: {', '.join(names[:10])}."
        )
    stated = None
    for entry in models if names else []:
        length = context_length(entry.model_dump()) if entry.id == model else None
        if length:
            stated = length
    return stated

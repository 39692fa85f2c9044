"""The openai client's exceptions, as nbllm's: openai-python's retry rules, readable messages.

Retried (TransientBackendError): 408, 409, 429, 5xx, timeouts, refused or broken connections,
unless the server says ``x-should-retry: false``; ``x-should-retry: true`` makes any status
retried. Every message is built from the server's own text, never from the request.

Pure: runs on whatever thread calls it (the I/O loop, where the client raises).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator
from typing import Any

from nbllm.errors import (
    AuthenticationError,
    BackendError,
    ModelNotFoundError,
    NBLLMError,
    TransientBackendError,
    redact,
)

# A server error whose text says the request itself was refused (llama-cpp-python answers a
# pydantic validation failure with 500, llama.cpp's server refuses n > 1 with 500): sending the
# same request again cannot help, so it is not retried.
_SHAPE_REFUSAL = re.compile(
    r"validation error|literal_error|input should be|extra inputs are not permitted|not supported|"
    r"unsupported|only one completion choice|invalid_request_error|is not allowed",
    re.IGNORECASE,
)

_REFUSED = {"ClientConnectorError", "ConnectError", "ConnectionRefusedError", "gaierror"}
_BROKEN = {
    "ServerDisconnectedError",
    "ClientPayloadError",
    "ClientOSError",
    "RemoteProtocolError",
    "ReadError",
    "ConnectionResetError",
    "BrokenPipeError",
    "IncompleteRead",
}


def convert(exc: Exception, secrets: tuple[str, ...] = (), where: str = "the server") -> NBLLMError:
    """nbllm's error for `exc`, with secrets blanked and no link back to `exc`."""
    return redact(_convert(exc, where), secrets)


def _convert(exc: Exception, where: str) -> NBLLMError:
    import openai

    if isinstance(exc, NBLLMError):
        return exc
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError too: its cause says what happened
        return _connection_error(exc, where, timed_out=isinstance(exc, openai.APITimeoutError))
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc.status_code, detail(exc), exc.response.headers)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, TypeError, KeyError)):
        return BackendError(f"{where} sent a malformed response ({type(exc).__name__}: {str(exc)[:200]})")
    return BackendError(f"malformed response or client failure: {type(exc).__name__}: {str(exc)[:300]}")


def connection_failure(exc: Exception) -> BaseException | None:
    """What failed when `exc` is the connection failing (refused, broken, timed out) rather than
    an answer: the innermost cause, for a backend that tells a dead server from a passing fault
    itself; None when `exc` is not a connection failure."""
    import openai

    if not isinstance(exc, openai.APIConnectionError):
        return None
    return list(_causes(exc))[-1]


def _connection_error(exc: Exception, where: str, timed_out: bool) -> TransientBackendError:
    """Tell apart a server that is not there, a connection that broke, and a slow answer (the
    openai client reports all three as connection errors or timeouts)."""
    chain = list(_causes(exc))
    names = {type(e).__name__ for e in chain}
    if names & _REFUSED:
        return TransientBackendError(
            f"could not connect to {where}: the connection was refused; is the server running at that "
            "address (check base_url)?"
        )
    if names & _BROKEN or not timed_out:
        cause = next((e for e in reversed(chain) if type(e).__name__ in _BROKEN), chain[-1])
        broken = TransientBackendError(
            f"the connection to {where} broke before the answer arrived ({type(cause).__name__}: "
            f"{str(cause)[:160] or 'closed'})"
        )
        broken.billed = (None, 0)  # type: ignore[attr-defined]  # the request went out: its prompt may be billed
        return broken
    return TransientBackendError(f"the request to {where} timed out")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def refuses_request(status: int | None, text: str) -> bool:
    """Whether an error answer refuses the request's shape (a field or value the server does not
    take), as opposed to a passing failure or an auth, model or rate-limit problem."""
    if status in (400, 422):
        return True
    return status is not None and status >= 500 and bool(_SHAPE_REFUSAL.search(text))


def refused_request_text(exc: Exception) -> str | None:
    """The server's words when `exc` is an answer refusing the request's shape (which the same
    request would get again), else None."""
    status = getattr(exc, "status_code", None)
    if status is None:
        return None
    text = detail(exc)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return text if _should_retry(headers) != "true" and refuses_request(status, text) else None


def _should_retry(headers: Any) -> str:
    """The server's ``x-should-retry`` ("true", "false" or "")."""
    return (headers.get("x-should-retry") or "").lower() if headers is not None else ""


def _status_error(status: int, text: str, headers: Any) -> NBLLMError:
    should_retry = _should_retry(headers)
    if should_retry != "true" and refuses_request(status, text):
        return BackendError(f"server refused the request ({status}, not retried): {text}")
    if should_retry == "true" or (should_retry != "false" and (status in (408, 409, 429) or status >= 500)):
        if status == 429:
            text = f"{text} (rate limit hit: lower concurrency or requests_per_minute, or raise max_retries)"
        return TransientBackendError(f"server answered {status}: {text}", retry_after(headers))
    if status in (401, 403):
        return AuthenticationError(f"the server refused the API key ({status}): {text}")
    if status == 404:
        return ModelNotFoundError(f"not found (404): {text}; check the model name and base_url.")
    return BackendError(f"server answered {status}: {text}")


def detail(exc: Any) -> str:
    """The server's own words: ``error.message``, ``detail``, ``message`` or the plain body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        for message in (
            error.get("message") if isinstance(error, dict) else error,
            body.get("detail"),
            body.get("message"),
        ):
            if message:
                return str(message)[:300]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    response = getattr(exc, "response", None)
    try:
        text = response.text if response is not None else ""
    except Exception:
        text = ""
    return (text.strip() or str(getattr(exc, "message", exc)))[:300]


def retry_after(headers: Any) -> float | None:
    """Seconds a server asked to wait (retry-after-ms, retry-after as seconds or a date); None
    when absent or unreadable, so the backoff applies."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return float(value) * scale
        except ValueError:
            pass
        if scale == 1.0:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            return max(0.0, parsed.timestamp() - time.time())
    return None

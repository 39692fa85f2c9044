"""Talking to the embedded model's server on 127.0.0.1: one aiohttp session for every server
process, and what a dropped connection means (the server died, or a passing fault).

Runs on nbllm's I/O loop; `wait_dead` blocks, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nbllm.engine import loop
from nbllm.errors import BackendError, TransientBackendError
from nbllm.llms.llamacpp.shared import SharedServer


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


async def lost(process: SharedServer, proc: Any, exc: Exception) -> BackendError:
    """A dropped connection: the server's death (not retried) or a passing fault (retried)."""
    if proc is not None and await asyncio.to_thread(wait_dead, proc):
        return process.died_error(proc)
    return TransientBackendError(
        f"the embedded model's server dropped the connection: {type(exc).__name__}: {exc}"
    )


class _Session:
    """One aiohttp session on nbllm's I/O loop for every server process."""

    session: Any = None

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


_SESSION = _Session()


async def shared_session() -> Any:
    """The one session, made on first use (on the I/O loop) and closed at exit."""
    if _SESSION.session is None or _SESSION.session.closed:
        import aiohttp

        _SESSION.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
        )
        loop.close_at_exit(_SESSION.aclose)
    return _SESSION.session

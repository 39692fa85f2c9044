"""User callbacks (progress, listeners, human votes, live redraws) run here, never on the I/O loop.

One daemon thread runs them in the order they were queued, so a slow or blocking callback
delays other callbacks but never a request, and a raising one is logged as an NBLLMWarning
instead of costing the generation that triggered it. The thread starts on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from nbllm.errors import NBLLMWarning

T = TypeVar("T")
logger = logging.getLogger("nbllm")

_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-callbacks")
    return _executor


def in_callback_thread() -> bool:
    return threading.current_thread().name.startswith("nbllm-callbacks")


def call(fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """Run `fn(*args)` on the callback thread; its result (or exception) is in the future."""
    return _pool().submit(fn, *args)


def notify(fn: Callable[..., Any], *args: Any, what: str = "callback") -> None:
    """Run `fn(*args)` on the callback thread; an exception is reported, never raised."""
    _pool().submit(_guarded, fn, args, what)


def _guarded(fn: Callable[..., Any], args: tuple[Any, ...], what: str) -> None:
    try:
        fn(*args)
    except Exception as exc:
        report(f"{what} {getattr(fn, '__qualname__', fn)!s} raised {type(exc).__name__}: {exc}")


def report(message: str) -> None:
    """Log and warn about a failed side effect; the generation it concerns is kept."""
    message = f"nbllm: {message} (the generation was kept)"
    logger.warning(message)
    warnings.warn(message, NBLLMWarning, stacklevel=2)


def flushed() -> concurrent.futures.Future[None]:
    """A future that is done once every callback queued before this call has run (at once
    on the callback thread itself, which cannot wait for its own queue)."""
    if in_callback_thread():
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        done.set_result(None)
        return done
    return _pool().submit(lambda: None)


async def drained() -> None:
    """Wait, from any event loop, until the callbacks queued so far have run."""
    await asyncio.wrap_future(flushed())

"""One persistent I/O event loop on a daemon thread, shared by every nbllm client.

Clients (httpx/aiohttp pools) belong to the loop that first used them, so all backend I/O
runs here, whether the caller is a plain script, a Jupyter cell (which already runs a loop)
or another event loop. Sync callers submit and wait; async callers await via wrap_future.
The loop starts on first use, never at import.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import queue
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_closers: list[weakref.WeakMethod[Any]] = []


def new_loop(platform: str = sys.platform) -> asyncio.AbstractEventLoop:
    """A loop of nbllm's own. On Windows always a proactor loop: Jupyter sets the selector
    policy for the whole process, and a selector loop there holds at most 512 sockets."""
    if platform == "win32":
        return asyncio.ProactorEventLoop()  # type: ignore[attr-defined,unused-ignore]
    return asyncio.new_event_loop()


def io_loop() -> asyncio.AbstractEventLoop:
    """The nbllm I/O loop, started on first call (and again after a fork)."""
    global _loop, _thread
    if _loop is not None and _thread is not None and _thread.is_alive():
        return _loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = new_loop()
            # Blocking backends and DNS lookups run in this pool: named, so they are known as ours.
            loop.set_default_executor(
                concurrent.futures.ThreadPoolExecutor(thread_name_prefix="nbllm-io-worker")
            )
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="nbllm-io", daemon=True)
            thread.start()
            started.wait()
            _loop, _thread = loop, thread
    return _loop


def close_at_exit(aclose: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run the bound method `aclose()` on the I/O loop at exit, if its object still lives."""
    _closers.append(weakref.WeakMethod(aclose))  # type: ignore[arg-type]
    if len(_closers) == 1:
        atexit.register(_close_all)


def _close_all() -> None:
    if _loop is None or not _loop.is_running():
        return
    for ref in _closers:
        aclose = ref()
        if aclose is None:
            continue
        try:
            submit(aclose()).result(timeout=2)
        except Exception:
            pass  # exiting anyway; a half-closed pool only costs a warning


def in_io_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the I/O loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, io_loop())


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the I/O loop and wait for it, from any thread, loop or notebook.

    A KeyboardInterrupt while waiting cancels the work and is re-raised.
    """
    if in_io_thread():
        coro.close()
        raise RuntimeError(
            "a sync nbllm call was made from inside nbllm's own I/O loop; await the async "
            "API (agenerate, arun, ...) there instead."
        )
    future = submit(coro)
    try:
        return _wait(future, timeout)
    except BaseException:
        future.cancel()
        raise


def _wait(future: concurrent.futures.Future[T], timeout: float | None) -> T:
    # Short waits keep the main thread responsive to Ctrl-C / kernel interrupts.
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"nbllm call did not finish within {timeout} s") from None


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await a coroutine on the I/O loop from any event loop (or directly when already there)."""
    if in_io_thread():
        return await coro
    future = submit(coro)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise


def enable_nested_asyncio() -> None:
    """Opt-in: patch asyncio with nest-asyncio2 so ``loop.run_until_complete`` nests.

    nbllm does not need this (its sync API already works inside Jupyter); it is for users
    who drive nbllm coroutines with run_until_complete inside a running loop themselves.
    """
    try:
        import nest_asyncio2
    except ImportError as exc:
        from nbllm.errors import MissingDependencyError

        raise MissingDependencyError(
            "enable_nested_asyncio needs nest-asyncio2: pip install nest-asyncio2"
        ) from exc
    nest_asyncio2.apply()


_END = object()


async def aiter_on_io(agen: AsyncIterator[T]) -> AsyncIterator[T]:
    """Iterate an async generator that must run on the I/O loop, from any event loop."""
    if in_io_thread():
        async for item in agen:
            yield item
        return
    caller = asyncio.get_running_loop()
    items: asyncio.Queue[Any] = asyncio.Queue()
    future = submit(_pump(agen, lambda item: caller.call_soon_threadsafe(items.put_nowait, item)))
    try:
        while True:
            item = await items.get()
            if item is _END:
                break
            yield _unwrap(item)
    finally:
        future.cancel()


def iter_on_io(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async generator that runs on the I/O loop from sync code (also in Jupyter)."""
    items: queue.Queue[Any] = queue.Queue()
    future = submit(_pump(agen, items.put))
    try:
        while True:
            try:
                item = items.get(timeout=0.1)  # short waits keep Ctrl-C responsive
            except queue.Empty:
                continue
            if item is _END:
                break
            yield _unwrap(item)
    finally:
        future.cancel()


def _unwrap(item: Any) -> Any:
    if isinstance(item, _Raised):
        raise item.error
    return item


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _pump(agen: AsyncIterator[Any], put: Callable[[Any], Any]) -> None:
    try:
        async for item in agen:
            put(item)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        put(_Raised(exc))
        return
    put(_END)

"""ModelOutputThunk: a lazy result that resolves when its generation is done.

Created on the thread that schedules (usually the caller's), resolved on the I/O loop;
``result()`` waits on the caller's thread and ``on_done`` callbacks run on nbllm-callbacks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import weakref
from collections.abc import Callable
from collections.abc import Generator as PyGenerator
from typing import TYPE_CHECKING, Any

from nbllm.core.outputs import Generation, GenerationStats
from nbllm.engine import callbacks, loop

if TYPE_CHECKING:
    from nbllm.engine.components import Component


class ModelOutputThunk:
    """One sample of one component, computed on nbllm's I/O loop.

    Await it from any event loop, or call ``result()`` from sync code (also inside Jupyter).
    Once computed it holds the text (``value``), the parsed value, statistics and any error.
    """

    def __init__(self, component: Component, sample_index: int, params: dict[str, Any] | None = None) -> None:
        self.component = component
        self.sample_index = sample_index
        self.params = params or {}
        self._future: concurrent.futures.Future[Generation] = concurrent.futures.Future()
        self._aio: asyncio.Future[Generation] | None = None  # a twin on the I/O loop, made on demand
        self._work: EngineWork | None = None  # the engine task computing this thunk (and siblings)

    # -- filled by the engine ---------------------------------------------------------
    def _resolve(self, generation: Generation) -> None:
        if not self._future.done():
            self._future.set_result(generation)

    def on_done(self, fn: Callable[[ModelOutputThunk], Any], what: str = "callback") -> None:
        """Call ``fn(thunk)`` once this thunk is done, on nbllm's callback thread (never the
        I/O loop); an exception in `fn` is reported as an NBLLMWarning and costs nothing else."""
        me = weakref.ref(self)  # no reference cycle through the future; its completer holds the thunk

        def done(_: concurrent.futures.Future[Generation]) -> None:
            thunk = me()
            if thunk is not None:
                callbacks.notify(fn, thunk, what=what)

        self._future.add_done_callback(done)

    # -- read by users ----------------------------------------------------------------
    @property
    def is_computed(self) -> bool:
        return self._future.done() and not self._future.cancelled()

    def result(self, timeout: float | None = None) -> Generation:
        """Wait for the generation (a KeyboardInterrupt while waiting propagates)."""
        return loop._wait(self._future, timeout)

    def __await__(self) -> PyGenerator[Any, None, Generation]:
        return self._awaitable().__await__()

    def _awaitable(self) -> asyncio.Future[Generation]:
        """A future of the current loop: on the I/O loop a cheap twin, elsewhere a wrapper."""
        if not loop.in_io_thread():
            return asyncio.wrap_future(self._future)
        if self._aio is None:
            self._aio = asyncio.get_running_loop().create_future()
            # a callback holding the twin, not the thunk: no reference cycle for the GC to find
            self._future.add_done_callback(functools.partial(_copy_to_twin, self._aio))
        return self._aio

    def _done(self) -> Generation:
        if not self.is_computed:
            raise RuntimeError("this thunk is not computed yet: await it or call .result()")
        return self._future.result()

    @property
    def value(self) -> str | None:
        return self._done().text

    @property
    def parsed(self) -> Any:
        return self._done().parsed

    @property
    def stats(self) -> GenerationStats:
        return self._done().stats

    @property
    def error(self) -> Exception | None:
        return self._done().error

    def cancel(self) -> bool:
        """Cancel the generation (and the engine work behind it) unless it is already done."""
        cancelled = self._future.cancel()
        if cancelled and self._work is not None:
            self._work.release()
        return cancelled

    def __repr__(self) -> str:
        state = "computed" if self.is_computed else "pending"
        return f"<ModelOutputThunk {self.component!r} sample={self.sample_index} {state}>"


class EngineWork:
    """An engine task and the thunks it computes (the samples of one input, or a batch): it is
    cancelled only once none of them is wanted any more, so cancelling one sample leaves its
    siblings running. Holds the thunks weakly: no reference cycle per thunk."""

    __slots__ = ("_thunks", "task")

    def __init__(self, task: asyncio.Future[Any], thunks: list[ModelOutputThunk]) -> None:
        self.task = task
        self._thunks = [weakref.ref(t) for t in thunks]
        for thunk in thunks:
            thunk._work = self

    def release(self) -> None:
        """Cancel the task if every thunk it computes is done, cancelled or gone."""
        if self.task.done():
            return
        if all((thunk := ref()) is None or thunk._future.done() for ref in self._thunks):
            self.task.get_loop().call_soon_threadsafe(self.task.cancel)


def _copy_to_twin(twin: asyncio.Future[Generation], done: concurrent.futures.Future[Generation]) -> None:
    def copy() -> None:
        if twin.done():
            return
        if done.cancelled():
            twin.cancel()
        else:
            twin.set_result(done.result())

    _on_loop_of(twin, copy)


async def gather_thunks(thunks: list[ModelOutputThunk]) -> list[Generation]:
    """The generations of `thunks`, in order; cancelling the wait cancels their work.

    One future of the waiting loop counts the thunks down (cheaper than a future per thunk);
    a cancelled thunk ends the wait at once and cancels the others."""
    if not thunks:
        return []
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = len(thunks)
    lock = threading.Lock()

    def one_done(done: concurrent.futures.Future[Generation]) -> None:
        nonlocal left
        with lock:
            left -= 1
            finished = left == 0 or done.cancelled()
        if finished:
            _on_loop_of(waiter, functools.partial(_wake, waiter))

    for thunk in thunks:
        thunk._future.add_done_callback(one_done)
    try:
        await waiter
        if any(t._future.cancelled() for t in thunks):
            raise asyncio.CancelledError
    except asyncio.CancelledError:
        for thunk in thunks:
            thunk.cancel()
        raise
    return [t._future.result() for t in thunks]


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _on_loop_of(future: asyncio.Future[Any], fn: Callable[[], Any]) -> None:
    """Run `fn` on `future`'s loop: now when already there, else as soon as that loop can."""
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if future.get_loop() is here:
        fn()
    else:
        future.get_loop().call_soon_threadsafe(fn)

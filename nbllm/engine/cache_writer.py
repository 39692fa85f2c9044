"""Writes finished generations to the output cache in batches, on a thread of its own.

The I/O loop never waits on SQLite: each finished generation is handed to the writer with an
asyncio future, the writer commits everything that arrived meanwhile in one transaction (group
commit) and then settles all their futures, with None or the error, in one hop back to the
loop. The engine resolves a thunk only then, so a generation the user holds is already on disk
and survives a crash of the process. Cache hits are marked as used (for LRU eviction) in the
same transactions, without anyone waiting for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from nbllm.engine.cache import OutputCache
from nbllm.errors import CacheError

IDLE_SECONDS = 30.0  # a writer thread with nothing to write for this long ends


class CacheWriter:
    """A daemon thread committing queued entries of one OutputCache, many per transaction."""

    def __init__(self, cache: OutputCache) -> None:
        self.cache = cache
        self._pending: list[tuple[str, dict[str, Any], asyncio.Future[Exception | None]]] = []
        self._touched: list[str] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, key: str, value: dict[str, Any], written: asyncio.Future[Exception | None]) -> None:
        """Queue one entry; `written` gets None once it is committed, or the error."""
        with self._wake:
            self._pending.append((key, value, written))
            self._start()

    def touch(self, keys: Iterable[str]) -> None:
        """Queue cache hits to be marked as used; nobody waits for it."""
        with self._wake:
            self._touched.extend(keys)
            self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="nbllm-cache-writer", daemon=True)
            self._thread.start()
        self._wake.notify()

    def _run(self) -> None:
        try:
            self._write_until_idle()
        finally:
            self.cache.release()  # this thread's connection ends with it (one per pause leaked)

    def _write_until_idle(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._touched:
                    if not self._wake.wait(timeout=IDLE_SECONDS):
                        if not self._pending and not self._touched:  # idle: put() starts another
                            self._thread = None
                            return
                batch, self._pending = self._pending, []
                touched, self._touched = self._touched, []
            error: Exception | None = None
            try:
                self.cache.put_many(((key, value) for key, value, _ in batch), touched)
            except CacheError as exc:
                error = exc
            except Exception as exc:  # never let a write failure strand the waiting generations
                error = CacheError(f"cache write failed on {str(self.cache.path)!r}: {exc}")
            futures = [written for _, _, written in batch]
            if not futures:
                continue  # only hits were marked: a failure there costs nothing but LRU order
            try:
                futures[0].get_loop().call_soon_threadsafe(_settle, futures, error)
            except RuntimeError:
                pass  # the loop is closed: the interpreter is exiting


def _settle(futures: list[asyncio.Future[Exception | None]], error: Exception | None) -> None:
    for future in futures:
        if not future.done():
            future.set_result(error)

"""Progress: how many of a batch's generations have finished, reported as (done, total).

Made where a batch is scheduled; ticks and the callback run on the nbllm-callbacks thread,
never on the I/O loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbllm.engine.thunk import ModelOutputThunk

ProgressCallback = Callable[[int, int], None]


class Progress:
    """Counts finished items and reports (done, total) to a callback, from any thread (nbllm
    calls it on its callback thread, never the I/O loop)."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self._lock = threading.Lock()

    def tick(self, *_: Any) -> None:
        with self._lock:
            self.done += 1
            done = self.done
        if self.callback is not None:
            self.callback(done, self.total)

    def follow(self, thunks: Iterable[ModelOutputThunk]) -> None:
        """Tick once as each of `thunks` finishes (nothing to do when nobody listens)."""
        if self.callback is None:
            return
        for thunk in thunks:
            thunk.on_done(self.tick, what="progress callback")


def track(thunks: list[ModelOutputThunk], progress: Any) -> None:
    """Report completions to a callback, or to a tqdm bar when progress is True, on nbllm's
    callback thread (never the I/O loop)."""
    total = len(thunks)
    if callable(progress):
        report = progress
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="generating", unit="gen")

        def report(done: int, _: int) -> None:
            bar.update(1)
            if done == total:
                bar.close()

    Progress(total, report).follow(thunks)

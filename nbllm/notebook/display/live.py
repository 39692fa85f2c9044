"""live_generate: a progress bar and a results table that fills in as generations complete.

live_generate runs and waits on the caller's thread; the table redraws on nbllm-callbacks.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as w
from IPython.display import display

from nbllm.core.outputs import GenerateOutput, GenerateOutputs
from nbllm.engine import callbacks, loop
from nbllm.engine.progress import Progress
from nbllm.engine.thunk import gather_thunks
from nbllm.notebook.display.html import results_html
from nbllm.notebook.display.style import offline_style


class LiveTable(w.VBox):
    """A progress bar over a table of the generations finished so far (refreshed at most
    every `interval` seconds, from nbllm's callback thread, while the cell waits)."""

    def __init__(self, total: int, interval: float = 0.5) -> None:
        self.bar = w.IntProgress(value=0, min=0, max=total, description=f"0 / {total}")
        self.table = w.HTML()
        super().__init__([self.bar, self.table])
        offline_style(self)
        self.interval = interval
        self._last = 0.0
        self._lock = threading.Lock()

    def update(self, done: int, outputs: list[GenerateOutput], force: bool = False) -> None:
        with self._lock:
            self.bar.value = done
            self.bar.description = f"{done} / {self.bar.max}"
            now = time.monotonic()
            if force or now - self._last >= self.interval:
                self._last = now
                finished = [o for o in outputs if o.generations]
                self.table.value = results_html(finished) if finished else ""


def live_generate(llm: Any, inputs: Any, num_generations: int = 1, **options: Any) -> GenerateOutputs:
    """``llm.generate`` with a live view: shows a LiveTable and returns the outputs."""
    batches = llm.submit(inputs, num_generations, **options)
    view = LiveTable(sum(len(b) for b in batches))
    display(view)
    partial = [
        GenerateOutput(llm.model_name, [], b[0].component.format_for_llm(), b[0].params) for b in batches
    ]
    progress = Progress(view.bar.max, lambda done, _: view.update(done, partial))

    def finished(thunk: Any, index: int) -> None:
        if not thunk.is_computed:  # cancelled
            return
        generations = partial[index].generations
        generations.append(thunk.result())
        generations.sort(key=lambda g: g.sample_index)
        progress.tick()

    for index, batch in enumerate(batches):
        for thunk in batch:
            thunk.on_done(lambda t, i=index: finished(t, i), what="live table")
    flat = [t for b in batches for t in b]
    loop.run_sync(gather_thunks(flat))
    callbacks.flushed().result()  # the live updates have run: the last redraw comes after them
    for output, batch in zip(partial, batches):  # the outputs come from the thunks themselves
        output.generations = [thunk.result() for thunk in batch]
    view.update(len(flat), partial, force=True)
    return GenerateOutputs(partial)

"""The engine's log: one entry per generation, readable back per component, optionally to a file.

Entries are recorded on the I/O loop; the file, when enabled, is written on nbllm's callback
thread (a slow disk never stalls a request), and a call returns once its entries are written.
Events and reads come from the caller's thread.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from nbllm.engine import callbacks

logger = logging.getLogger("nbllm")


@dataclass
class LogEntry:
    """What happened for one sample of one component."""

    component_id: int
    sample_index: int
    model: str
    params: dict[str, Any]
    cache_hit: bool
    latency: float
    input_tokens: int
    output_tokens: int
    error: str | None = None
    time: float = field(default_factory=time.time)
    kind: str = ""  # the component's type (Chat, JobCall, ...)
    parent_id: int | None = None


@dataclass
class LogDAG:
    """Which component produced which: nodes are component ids (with their kind), an edge
    goes from a component to one made for it (voting -> grading, examples -> their answers)."""

    nodes: dict[int, str]
    edges: list[tuple[int, int]]

    def children(self, component: Any) -> list[int]:
        cid = getattr(component, "component_id", component)
        return [child for parent, child in self.edges if parent == cid]

    def parents(self, component: Any) -> list[int]:
        cid = getattr(component, "component_id", component)
        return [parent for parent, child in self.edges if child == cid]

    def roots(self) -> list[int]:
        children = {child for _, child in self.edges}
        return [n for n in self.nodes if n not in children]


class EngineLog:
    """The most recent entries (bounded), with a per-component view and an optional file."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.entries: deque[LogEntry] = deque(maxlen=max_entries)
        self._file_handler: logging.Handler | None = None

    def record(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        if self._file_handler is not None:
            self._write(asdict(entry))

    def event(self, message: str, **fields: Any) -> None:
        """Log a free-form event (also to the file when enabled)."""
        logger.info(message)
        self._write({"event": message, **fields, "time": time.time()}, now=True)

    @property
    def writes_file(self) -> bool:
        return self._file_handler is not None

    def _write(self, payload: dict[str, Any], now: bool = False) -> None:
        """Append one line: at once (`now`, from the caller's thread), or queued on the
        callback thread (entries, from the I/O loop)."""
        handler = self._file_handler
        if handler is not None:
            record = logging.makeLogRecord(
                {"msg": json.dumps(payload, default=str), "levelno": logging.INFO, "name": "nbllm"}
            )
            if now:
                handler.handle(record)
            else:
                callbacks.notify(self._append, handler, record, what="log file write")

    def _append(self, handler: logging.Handler, record: logging.LogRecord) -> None:
        if handler is self._file_handler:  # a file switched off meanwhile is not reopened
            handler.handle(record)

    def dag(self) -> LogDAG:
        """The entries as a graph of components (see LogDAG)."""
        nodes: dict[int, str] = {}
        edges: dict[tuple[int, int], None] = {}
        for entry in self.entries:
            nodes.setdefault(entry.component_id, entry.kind)
            if entry.parent_id is not None:
                nodes.setdefault(entry.parent_id, "")
                edges[(entry.parent_id, entry.component_id)] = None
        return LogDAG(nodes, list(edges))

    def for_component(self, component: Any) -> list[LogEntry]:
        cid = getattr(component, "component_id", component)
        return [e for e in self.entries if e.component_id == cid]

    def enable_file(self, path: str) -> None:
        """Append every entry to `path` as a JSON line."""
        self.disable_file()
        self._file_handler = logging.FileHandler(path, encoding="utf-8")
        self._file_handler.setFormatter(logging.Formatter("%(message)s"))

    def disable_file(self) -> None:
        if self._file_handler is not None:
            callbacks.flushed().result()  # the lines queued so far are written first
            handler, self._file_handler = self._file_handler, None  # later ones are dropped,
            handler.close()  # never written to a reopened file

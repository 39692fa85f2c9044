"""The persistent output cache: finished generations in SQLite, keyed by request and sample.

One file under the user cache folder (``NBLLM_CACHE_DIR`` overrides it). WAL mode with one
connection per thread keeps it consistent under concurrent writers (threads and processes);
each write is one transaction, so a crash mid-write leaves the old state. Least recently
used entries are evicted beyond ``max_entries``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_MAX_ENTRIES = 200_000


def default_cache_dir() -> Path:
    if os.environ.get("NBLLM_CACHE_DIR"):
        return Path(os.environ["NBLLM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbllm"


def cache_key(identity: dict[str, Any], request: dict[str, Any], sample_index: int) -> str:
    """A stable hash of who generates (model), what (messages, params) and which sample."""
    blob = json.dumps(
        {"model": identity, "request": request, "sample": sample_index},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class OutputCache:
    """A size-bounded, persistent map from cache keys to finished generations (JSON)."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self.path = Path(path) if path is not None else default_cache_dir() / "outputs.sqlite3"
        self.max_entries = max_entries
        self._local = threading.local()
        self._writes = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS outputs ("
                " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL, accessed REAL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS outputs_accessed ON outputs(accessed)")

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached values among `keys` (missing keys are absent); marks them as used."""
        if not keys:
            return {}
        db = self._connect()
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(f"SELECT key, value FROM outputs WHERE key IN ({marks})", chunk)
            found.update((k, json.loads(v)) for k, v in rows)
        if found:
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE outputs SET accessed=? WHERE key=?", [(now, k) for k in found])
            db.execute("COMMIT")
        return found

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        now = time.time()
        db = self._connect()
        db.execute(
            "INSERT OR REPLACE INTO outputs(key, value, created, accessed) VALUES (?, ?, ?, ?)",
            (key, json.dumps(value), now, now),
        )
        self._writes += 1
        if self._writes % 100 == 0:
            self.evict()

    def evict(self) -> int:
        """Drop the least recently used entries beyond max_entries; returns how many."""
        db = self._connect()
        (count,) = db.execute("SELECT COUNT(*) FROM outputs").fetchone()
        excess = count - self.max_entries
        if excess <= 0:
            return 0
        db.execute(
            "DELETE FROM outputs WHERE key IN (SELECT key FROM outputs ORDER BY accessed ASC LIMIT ?)",
            (excess,),
        )
        return excess

    def __len__(self) -> int:
        (count,) = self._connect().execute("SELECT COUNT(*) FROM outputs").fetchone()
        return int(count)

    def clear(self) -> None:
        self._connect().execute("DELETE FROM outputs")

    def __repr__(self) -> str:
        return f"OutputCache({str(self.path)!r}, max_entries={self.max_entries})"

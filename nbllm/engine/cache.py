"""The persistent output cache: finished generations in SQLite, keyed by request and sample.

One file under the user cache folder (``NBLLM_CACHE_DIR`` overrides it). WAL mode with one
connection per thread keeps it consistent under concurrent writers (threads and processes);
each batch of writes is one transaction, so a crash mid-write leaves the old state. Least
recently used entries are evicted beyond ``max_entries``.

The cache never costs an answer. A file that is not a database (corrupt, truncated) is moved
aside and a new one started; a folder that cannot be written serves what the file already
holds and stores nothing new; either way a warning names the path and what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbllm.errors import CacheError, NBLLMWarning

DEFAULT_MAX_ENTRIES = 200_000
logger = logging.getLogger("nbllm")


def default_cache_dir() -> Path:
    if os.environ.get("NBLLM_CACHE_DIR"):
        return Path(os.environ["NBLLM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbllm"


def cache_key(identity: dict[str, Any], request: dict[str, Any], sample_index: int) -> str:
    """A stable hash of who generates (model), what (messages, params) and which sample."""
    blob = _KEY_ENCODER.encode({"model": identity, "request": request, "sample": sample_index})
    return hashlib.sha256(blob.encode()).hexdigest()


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)  # made once


def _is_corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    # a truncated file reads short, which SQLite reports as a disk I/O error
    return isinstance(exc, sqlite3.DatabaseError) and any(
        sign in text for sign in ("not a database", "malformed", "corrupt", "disk i/o error")
    )


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class OutputCache:
    """A size-bounded, persistent map from cache keys to finished generations (JSON)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        busy_timeout: float = 30.0,
    ) -> None:
        # resolved now: a later %cd does not move it
        self.path = (
            Path(path).absolute() if path is not None else default_cache_dir().absolute() / "outputs.sqlite3"
        )
        self.max_entries = max_entries
        self.busy_timeout = busy_timeout  # seconds to wait for another writer's lock
        self.writable = True
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._generation = 0  # bumped when the file is replaced: thread-local connections reopen
        self._lock = threading.Lock()  # the list of connections
        self._replacing = threading.Lock()  # one thread at a time sets a damaged file aside
        self._replaced = 0  # files set aside so far: a thread that saw the old one does not again
        self._count: int | None = None  # entries as last counted, plus this process's inserts since
        self._uncounted = 0  # inserts since the last exact count
        self._open()

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self.path.exists():
                raise CacheError(
                    f"cannot create the cache folder {str(self.path.parent)!r} ({exc.strerror}); set "
                    "NBLLM_CACHE_DIR to a writable folder, or pass cache=False."
                ) from None
        for attempt in range(40):
            try:
                self._create_schema()
                return
            except sqlite3.Error as exc:
                if _is_corrupt(exc):
                    self._move_aside(exc)
                elif _is_busy(exc) and attempt < 39:
                    time.sleep(0.05 * (1 + attempt % 5))  # another process is creating it right now
                elif self._open_read_only(exc):
                    return
                else:
                    raise CacheError(
                        f"cannot use the cache file {str(self.path)!r}: {exc}; set NBLLM_CACHE_DIR "
                        "to a writable folder, or pass cache=False."
                    ) from None
        raise CacheError(f"the cache file {str(self.path)!r} stayed locked; pass cache=False.")

    def _create_schema(self) -> None:
        db = self._connect()
        db.execute(
            "CREATE TABLE IF NOT EXISTS outputs ("
            " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL, accessed REAL)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS outputs_accessed ON outputs(accessed)")
        db.execute("SELECT key FROM outputs LIMIT 1").fetchall()
        db.execute("BEGIN IMMEDIATE")  # can this process write here? (a read-only folder says no)
        db.execute("ROLLBACK")

    def _open_read_only(self, exc: sqlite3.Error) -> bool:
        """Serve an existing file from a folder nbllm may not write to; store nothing new."""
        text = str(exc).lower()
        if not self.path.is_file() or not ("readonly" in text or "unable to open" in text):
            return False
        self.close()
        self.writable = False
        try:
            self._connect().execute("SELECT key FROM outputs LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        self._warn(f"{exc}; answers already in it are served, new ones are not stored")
        return True

    def _move_aside(self, exc: sqlite3.Error) -> None:
        self.close()
        # a unique name: a file damaged again within a second must not overwrite the first copy
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}-{secrets.token_hex(3)}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                try:
                    source.replace(Path(f"{aside}{suffix}"))
                except OSError as move_error:
                    raise CacheError(
                        f"the cache file {str(self.path)!r} is damaged ({exc}) and could not be moved "
                        f"aside ({move_error.strerror}); delete it, or pass cache=False."
                    ) from None
        self._generation += 1
        self._replaced += 1
        self._count = None
        self._warn(f"it was damaged ({exc}); moved it to {aside.name} and started a new one")

    def _warn(self, what: str) -> None:
        message = (
            f"nbllm cache {str(self.path)!r}: {what}. Set NBLLM_CACHE_DIR to a writable folder "
            "or pass cache=False to silence this."
        )
        logger.warning(message)
        warnings.warn(message, NBLLMWarning, stacklevel=3)

    def _connect(self) -> sqlite3.Connection:
        local = self._local
        db = getattr(local, "db", None)
        if db is None or local.generation != self._generation:
            if self.writable:
                db = sqlite3.connect(
                    self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            else:
                db = self._connect_read_only()
            local.db, local.generation = db, self._generation
            with self._lock:
                self._connections.append(db)
        return db

    def _connect_read_only(self) -> sqlite3.Connection:
        """Read-only, with the write-ahead log where it can be read, else the main file as it is."""
        base = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{base}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
            db.execute("SELECT key FROM outputs LIMIT 1").fetchall()
            return db
        except sqlite3.Error:
            return sqlite3.connect(
                f"{base}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
            )

    def release(self) -> None:
        """Close the calling thread's connection: a thread that ends lets its connection go."""
        db = getattr(self._local, "db", None)
        if db is None:
            return
        self._local.db = None
        with self._lock:
            if db in self._connections:
                self._connections.remove(db)
        db.close()

    def close(self) -> None:
        """Close every connection this cache opened, in any thread (it reopens when used again)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for db in connections:
            db.close()

    def _guarded(self, action: str, fn: Any) -> Any:
        """Run one database step; a file damaged while in use is moved aside once and retried,
        one that became read-only is served read-only from then on."""
        replaced = self._replaced
        try:
            return fn(self._connect())
        except sqlite3.Error as exc:
            if "readonly" in str(exc).lower() and self.writable:
                self.writable = False
                self._warn(f"{exc}; answers already in it are served, new ones are not stored")
                return fn(self._connect()) if action == "read" else None
            if not _is_corrupt(exc):
                raise CacheError(
                    f"cache {action} failed on {str(self.path)!r}: {exc}; pass cache=False to go on "
                    "without the cache."
                ) from None
            with self._replacing:
                if self._replaced == replaced:  # nobody set this damaged file aside yet
                    self._move_aside(exc)
                    self._create_schema()
            return fn(self._connect())

    # -- reading and writing -------------------------------------------------------------------
    def get_many(self, keys: list[str], touch: bool = True) -> dict[str, dict[str, Any]]:
        """The cached values among `keys` (missing keys are absent). With `touch` they are marked
        as used here; the engine passes False and has its writer thread mark them (put_many)."""
        if not keys:
            return {}

        def read(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT key, value FROM outputs WHERE key IN ({marks})", chunk)
                found.update((k, json.loads(v)) for k, v in rows)
            if touch and found and self.writable:
                with _transaction(db):
                    _mark_used(db, found, time.time())
            return found

        return self._guarded("read", read)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def put_many(self, items: Iterable[tuple[str, dict[str, Any]]], touched: Iterable[str] = ()) -> None:
        """Store several entries, and mark the `touched` keys as just used, in one transaction
        (all or none)."""
        if not self.writable:
            return
        now = time.time()
        rows = [(key, json.dumps(value), now, now) for key, value in items]
        used = list(touched)
        if not rows and not used:
            return

        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                if rows:
                    db.executemany(
                        "INSERT OR REPLACE INTO outputs(key, value, created, accessed) VALUES (?, ?, ?, ?)",
                        rows,
                    )
                _mark_used(db, used, now)

        self._guarded("write", write)
        if rows:
            self._count_inserts(len(rows))

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.put_many([(key, value)])

    def _count_inserts(self, n: int) -> None:
        """Evict once the file may hold more than max_entries. The running count avoids a
        COUNT(*) (a scan of the whole table) per write; it is redone exactly when it says the
        file is full and after every 10,000 inserts (other processes write to it too)."""
        self._uncounted += n
        if self._count is None or self._uncounted >= 10_000:
            self.evict()
        else:
            self._count += n
            if self._count > self.max_entries:
                self.evict()

    def evict(self) -> int:
        """Drop the least recently used entries beyond max_entries; returns how many."""
        if not self.writable:
            return 0
        db = self._connect()
        (count,) = db.execute("SELECT COUNT(*) FROM outputs").fetchone()
        excess = max(count - self.max_entries, 0)
        if excess:
            db.execute(
                "DELETE FROM outputs WHERE key IN (SELECT key FROM outputs ORDER BY accessed ASC LIMIT ?)",
                (excess,),
            )
        self._count, self._uncounted = count - excess, 0
        return excess

    def __len__(self) -> int:
        (count,) = self._guarded("read", lambda db: db.execute("SELECT COUNT(*) FROM outputs").fetchone())
        return int(count)

    def clear(self) -> None:
        if self.writable:
            self._connect().execute("DELETE FROM outputs")
            self._count = 0

    def __repr__(self) -> str:
        mode = "" if self.writable else ", read-only"
        return f"OutputCache({str(self.path)!r}, max_entries={self.max_entries}{mode})"


def _mark_used(db: sqlite3.Connection, keys: Iterable[str], now: float) -> None:
    db.executemany("UPDATE outputs SET accessed=? WHERE key=?", [(now, k) for k in keys])


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")

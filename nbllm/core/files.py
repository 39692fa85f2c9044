"""Files written whole or not at all, one writer for every file nbllm writes in place (replay
bundles, exercise files, saved comparisons): a temporary file beside the target, on disk
before it is renamed over the old one, the rename tried again for a moment where Windows
refuses it.

Pure file I/O: runs on whatever thread calls it (the caller's, or nbllm's callback thread for a
recording's saves).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

NEW_FILE_MODE = 0o644  # readable by all: a teacher reads a class's files in a shared folder


def write_atomically(path: str | Path, text: str, mode: int | None = None) -> Path:
    """Write `text` to `path` whole or not at all: a reader never sees half a file, a failed
    write leaves the old one, and the new one is on disk before it replaces the old. The bytes
    are UTF-8 with the newlines as given (the same file on every system). A new file gets
    ``NEW_FILE_MODE`` (not mkstemp's private 0600); a rewritten one keeps its own mode; `mode`,
    where given, applies either way (0600 for a file only its owner may read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())  # on disk before it replaces the old file
        if mode is None:
            try:
                mode = path.stat().st_mode & 0o777
            except FileNotFoundError:
                mode = NEW_FILE_MODE
        os.chmod(temporary, mode)
        replace_file(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def replace_file(
    source: str | Path, target: Path, waits: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
) -> None:
    """``os.replace``, tried again for a moment while another program holds the target open
    (Windows refuses then: an editor's preview, a virus scanner, a sync client)."""
    for wait in (*waits, None):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if wait is None:
                raise
            time.sleep(wait)

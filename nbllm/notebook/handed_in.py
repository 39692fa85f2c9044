"""The files a class hands in (exercise attempts, arena votes), gathered from a folder, a glob
pattern, a file or a list of these: each file once, in a stable order; and read only when it is
a regular file of bounded size, so a named pipe, a device or a link to one in a hand-in folder
is left out with a reason instead of stalling the teacher's kernel.

Runs on the caller's thread (it lists files and reads them).
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from nbllm.errors import InvalidParameterError

KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a device",
         stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}  # fmt: skip


def gather(paths: Any, patterns: tuple[str, ...], what: str, field: str, who: str) -> list[Path]:
    """Every file in `paths`: a folder gives its entries matching `patterns` (whatever they are:
    the reader leaves out and names those that are not regular files); a pattern with ``*``,
    ``?`` or ``[`` that names no existing path is a glob (its folders are skipped). Errors name
    `what` is missing (``"vote file"``), the argument `field`, and `who` needed one. A path is
    kept as given (a link is not replaced by what it points to), each file once."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    found: list[Path] = []
    for item in map(str, items):
        if not os.path.lexists(item) and any(c in item for c in "*?["):
            matched = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matched:
                raise InvalidParameterError(f"No {what} matches {item}.", field)
            found.extend(p for p in matched if not p.is_dir())
        elif Path(item).is_dir():
            inside = sorted({p for pattern in patterns for p in Path(item).glob(pattern)})
            if not inside:
                raise InvalidParameterError(
                    f"The folder {item} holds no {what}s ({', '.join(patterns)}).", field
                )
            found.extend(inside)
        elif os.path.lexists(item):
            found.append(Path(item))
        else:
            raise InvalidParameterError(f"No {what} or folder at {item}.", field)
    if not found:
        raise InvalidParameterError(f"{who} needs at least one {what} or folder.", field)
    once: dict[Path, Path] = {}
    for path in found:
        once.setdefault(path.resolve(), path.absolute())
    return list(once.values())


def read_bytes(path: Path, limit: int, what: str, field: str = "paths") -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; otherwise an
    InvalidParameterError saying why it was left out (a folder, a named pipe, a device, too big,
    unreadable). Opened without blocking, so a named pipe cannot stall the caller."""
    with _opened(path, limit, what, field) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise InvalidParameterError(f"{path} grew while it was read, {_over(limit, what)}.", field)
    return data


def check_file(path: Path, limit: int, what: str, field: str = "paths") -> None:
    """Raise as ``read_bytes`` would if the file at `path` is not one to read (for a reader that
    opens the file itself, as SQLite does)."""
    with _opened(path, limit, what, field):
        pass


@contextlib.contextmanager
def _opened(path: Path, limit: int, what: str, field: str) -> Iterator[BinaryIO]:
    """The open regular file at `path`, or an error giving the reason it is not read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # a FIFO opens at once, without a writer; it is refused below
    except FileNotFoundError:
        raise InvalidParameterError(f"{path} is gone (or a link to nothing): left out.", field) from None
    except OSError as exc:
        kind = "a folder, not a file" if os.path.isdir(path) else f"unreadable ({exc.strerror or exc})"
        raise InvalidParameterError(f"{path} is {kind}: left out.", field) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InvalidParameterError(f"{path} is {kind}, not a file: left out.", field)
    if info.st_size > limit:
        os.close(fd)
        raise InvalidParameterError(f"{path} is {_size(info.st_size)}, {_over(limit, what)}.", field)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def _over(limit: int, what: str) -> str:
    return f"more than the {_size(limit)} {what}s may have: left out"


def _size(count: int) -> str:
    return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count} bytes"

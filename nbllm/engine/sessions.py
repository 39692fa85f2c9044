"""Recording and replaying answers: the one session a process may have open, and the two
places the engine meets it (a finished answer is recorded; a request is served from the bundle).

Nothing of this runs when no session is open: the engine reads one module global. The hooks
run on the I/O loop; a recording writes its file on nbllm's callback thread, and `stop` (the
caller's thread) waits for that write.
"""

from __future__ import annotations

import atexit
import dataclasses
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nbllm.core.messages import last_user_text
from nbllm.core.outputs import Generation, GenerationStats
from nbllm.engine import bundle_file as bundle
from nbllm.engine import callbacks
from nbllm.engine.bundle_file import BundleEntry, RecordedStats
from nbllm.engine.requests import EngineConfig, EngineJob, RawGeneration, RawRequest, cache_entry, sample_key
from nbllm.errors import NotRecordedError, UsageError, public_url, url_has_secrets

Mode = Literal["record", "replay"]


@dataclass
class Drift:
    """One answer run live while replaying with ``compare=True``, beside its recording."""

    model: str
    input: str
    sample_index: int
    recorded: str
    live: str

    @property
    def drifted(self) -> bool:
        return self.recorded != self.live


class Session:
    """An open recording or replay of one bundle file."""

    def __init__(
        self,
        path: str | Path,
        mode: Mode,
        entries: dict[str, BundleEntry] | None = None,
        compare: bool = False,
        fallback: EngineConfig | None = None,
        fresh: bool = False,
    ) -> None:
        self.path = Path(path).absolute()  # a later %cd does not move it
        self.mode: Mode = mode
        self.compare = compare
        self.fresh = fresh  # a recording started empty: an old session's answers are not kept
        self.fallback = fallback
        self.entries: dict[str, BundleEntry] = dict(entries or {})
        self.drift: list[Drift] = []
        self.served = 0
        self.not_recorded = 0
        self.recorded = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._dirty = False
        self._scheduled = False  # a save is waiting on the callback thread
        if mode == "record":
            _UNSAVED.add(self)  # written at exit too, should a save have failed

    @property
    def serving(self) -> bool:
        """Whether requests are answered from the bundle (replaying, not comparing)."""
        return self.mode == "replay" and not self.compare

    # -- recording (the I/O loop, before the answer's thunk resolves) ------------------------
    def observe(self, config: EngineConfig, request: Any, generation: Generation) -> None:
        """A finished answer (its text; a ParseError's too: parsing repeats on replay)."""
        if generation.text is None or generation.stats.recorded:
            return
        if self.mode == "record":
            self._record(config, request, generation)
        elif self.compare:
            self._compare(config, request, generation)

    def _record(self, config: EngineConfig, request: RawRequest, generation: Generation) -> None:
        entry = _entry(config, request, generation)
        blob = bundle.canonical(entry.model_dump(by_alias=True))
        if any(s and len(s) > 4 and s in blob for s in config.secrets) or _credentials(config.identity):
            callbacks.report(
                f"an answer of {config.model_name} was not recorded: it, or the endpoint's address, "
                "holds a key or a password (a bundle never does)"
            )
            return
        with self._lock:
            self.entries[entry.key] = entry
            self.recorded += 1
            self._dirty = True
            first, self._scheduled = not self._scheduled, True
        if first:  # one save at a time; one that failed leaves the next answer to schedule another
            callbacks.notify(self._scheduled_save, what="writing the replay bundle")

    def _scheduled_save(self) -> None:
        with self._lock:
            self._scheduled = False
        self.save()

    def adopt(self, old: Session) -> None:
        """Take over what a session on the same file recorded and could not write yet (its cell
        was run again): written with this session's, the old session's answers winning over the
        file's older copies. The old session is then clean: it never writes over this one."""
        with old._lock:
            unsaved = dict(old.entries) if old._dirty else {}
            old._dirty = False
        _UNSAVED.discard(old)
        if unsaved:
            with self._lock:
                self.entries = {**self.entries, **unsaved}
                self._dirty = True

    def _compare(self, config: EngineConfig, request: RawRequest, generation: Generation) -> None:
        entry = self.entries.get(sample_key(config, request, generation.sample_index))
        if entry is None:
            return
        live = generation.text or ""
        self.drift.append(
            Drift(
                config.model_name, last_user_text(request.messages), generation.sample_index, entry.text, live
            )
        )
        note = (
            "same as the recording" if live == entry.text else f"drifted from the recording: {entry.text!r}"
        )
        generation.notes = (*generation.notes, note)

    def save(self) -> None:
        """Write the bundle now, if anything was recorded since the last write."""
        with self._write_lock:
            with self._lock:
                if not self._dirty:
                    return
                self._dirty = False
                entries = list(self.entries.values())
            try:
                bundle.save(self.path, entries)
            except BaseException:
                with self._lock:
                    self._dirty = True  # the next save (or stop) tries again
                raise

    # -- replaying (the I/O loop) -------------------------------------------------------------
    def serve(
        self, recorder: Any, config: EngineConfig, jobs: list[EngineJob]
    ) -> tuple[EngineConfig, list[EngineJob]] | None:
        """Finish from the bundle every sample it holds. The rest fail with NotRecordedError,
        or, with a fallback, are returned for it: its config and the jobs left."""
        left = []
        for job in jobs:
            rest = []
            for thunk in job.thunks:
                if thunk._future.cancelled():
                    continue
                entry = self.entries.get(sample_key(config, job.request, thunk.sample_index))
                if entry is not None:
                    self.served += 1
                    stats = GenerationStats(**entry.stats.model_dump(), recorded=True)
                    recorder.finish(
                        config,
                        job.component,
                        thunk,
                        entry.text,
                        stats,
                        job.request,
                        reasoning=entry.reasoning,
                    )
                    continue
                self.not_recorded += 1
                if self.fallback is None:
                    error = self._missing(config, job.request, thunk.sample_index)
                    recorder.fail(config, job.component, thunk, error, job.request)
                else:
                    rest.append(thunk)
            if rest:
                left.append(EngineJob(job.component, job.request, rest))
        if not left or self.fallback is None:
            return None
        fallback = _noted(self.fallback, f"not in {self.path.name}: answered by {self.fallback.model_name}")
        return fallback, [EngineJob(j.component, _for(fallback, j.request), j.thunks) for j in left]

    def _missing(self, config: EngineConfig, request: RawRequest, sample_index: int) -> NotRecordedError:
        said = last_user_text(request.messages)
        asked = [dict(m) for m in request.messages]
        same = [e for e in self.entries.values() if e.messages == asked and e.prompt == request.prompt]
        hint = ""
        mine = [e for e in same if e.identity == config.identity]
        if mine:
            samples = sorted({e.sample_index for e in mine})
            other = {k: v for k, v in mine[0].params.items() if request.params.get(k) != v}
            other.update({k: None for k in request.params if k not in mine[0].params})
            hint = (
                f" It holds this prompt with other settings ({_settings(other)})."
                if other
                else f" It holds samples {samples} of this prompt, not sample {sample_index}."
                if sample_index not in samples
                else " It holds this prompt with another output schema."
            )
        elif same:
            hint = (
                f" It holds this prompt from another model or endpoint ({_identity(same[0].identity)}; "
                f"this one is {_identity(config.identity)})."
            )
        return NotRecordedError(
            f"{self.path.name} holds no recorded answer of {config.model_name} to {said[:80]!r} "
            f"(sample {sample_index}).{hint} Record the lesson again with this cell, or replay with "
            "fallback='embedded' to let the embedded model answer what was not recorded."
        )


def _identity(identity: dict[str, Any]) -> str:
    shown = {k: public_url(v) if k == "base_url" and isinstance(v, str) else v for k, v in identity.items()}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if v is not None)


def _credentials(identity: dict[str, Any]) -> bool:
    """Whether the endpoint's address carries a user, a password or a query (where keys hide)."""
    url = identity.get("base_url")
    return isinstance(url, str) and url_has_secrets(url)


def _for(fallback: EngineConfig, request: RawRequest) -> RawRequest:
    """The request as the fallback would have built it: its own defaults under the settings it
    supports, its own prompt format, the same schema."""
    params = {
        **fallback.default_params,
        **{k: v for k, v in request.params.items() if k in fallback.supported_params},
    }
    if fallback.context_size and params.get("max_tokens", 0) >= fallback.context_size:
        params["max_tokens"] = fallback.context_size // 2
    render = fallback.prompt_formatting_fn
    return RawRequest(
        request.messages,
        render(request.messages) if render is not None else None,
        params,
        request.n,
        request.response_schema,
        request.schema_name,
    )


def _settings(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))


def _entry(config: EngineConfig, request: RawRequest, generation: Generation) -> BundleEntry:
    key = sample_key(config, request, generation.sample_index)
    return BundleEntry(
        key=key,
        model=config.model_name,
        identity=config.identity,
        messages=[dict(m) for m in request.messages],
        prompt=request.prompt,
        params=dict(request.params),
        schema=request.response_schema,
        sample_index=generation.sample_index,
        seed=request.params.get("seed"),  # the seed the cell asked for; sample_index tells samples apart
        text=generation.text or "",
        reasoning=generation.reasoning,
        stats=RecordedStats(**cache_entry(generation.text or "", generation.stats)["stats"]),
    ).sealed()


def _noted(config: EngineConfig, note: str) -> EngineConfig:
    raw = config.raw_call

    async def call(request: RawRequest) -> list[RawGeneration]:
        return [dataclasses.replace(r, notes=(*r.notes, note)) for r in await raw(request)]

    return dataclasses.replace(config, raw_call=call, raw_stream=None, raw_batch=None)


_active: Session | None = None
_opening = threading.Lock()


_UNSAVED: weakref.WeakSet[Session] = weakref.WeakSet()


@atexit.register
def _save_at_exit() -> None:
    for session in list(_UNSAVED):
        try:
            session.save()
        except Exception:
            pass  # nothing more can be done at exit; each failure was reported when it happened


def active() -> Session | None:
    """The open session, or None (the default: then recording and replay cost nothing)."""
    return _active


def serving() -> bool:
    return _active is not None and _active.serving


def open_session(session: Session) -> Session:
    """Make `session` the open one. A session on the same file in the same mode (its cell run
    again) is stopped first; another one must be stopped by hand."""
    global _active
    with _opening:
        old = _active
        if old is not None and old is not session and (old.path, old.mode) != (session.path, session.mode):
            raise UsageError(
                f"{old.mode}ing {str(old.path)!r} is still open; stop it first (.stop(), or leave "
                "its with block)."
            )
    if old is not None and old is not session:
        if session.mode == "record" and not session.fresh:
            session.adopt(old)
        try:
            close_session(old)
        except OSError:  # its last write failed: its answers are in the new session, written with it
            pass
    with _opening:
        _active = session
    return session


def close_session(session: Session) -> None:
    """Stop `session`; a recording's last answers are written before this returns."""
    global _active
    with _opening:
        if _active is session:
            _active = None
    if session.mode == "record":
        callbacks.flushed().result()
        session.save()

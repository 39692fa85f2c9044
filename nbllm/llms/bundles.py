"""`record` and `replay`: a notebook's answers written to a bundle file that ships beside it,
and served from it where the model cannot be reached (Binder, no key, no server).

Opened and stopped on the caller's thread; the engine meets the open session on the I/O loop
(`nbllm.engine.sessions`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional, Union

from nbllm.engine import bundle_file as bundle
from nbllm.engine import sessions
from nbllm.errors import BundleError, UsageError


class BundleSession:
    """An open recording or replay; a context manager, or stop it with `stop()`."""

    def __init__(self, session: sessions.Session, fallback_llm: Any = None) -> None:
        self._session = session
        self._fallback_llm = fallback_llm  # keeps the fallback's engine alive
        self.stopped = False

    @property
    def path(self) -> Path:
        return self._session.path

    @property
    def mode(self) -> str:
        return self._session.mode

    def __len__(self) -> int:
        """The answers the bundle holds."""
        return len(self._session.entries)

    def __enter__(self) -> BundleSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop recording (the bundle is written before this returns) or replaying."""
        if not self.stopped:
            sessions.close_session(self._session)  # raises if the last write fails: stop again
            self.stopped = True

    @property
    def drift(self) -> list[sessions.Drift]:
        """With ``compare=True``: each live answer beside its recording."""
        return list(self._session.drift)

    def drift_frame(self) -> Any:
        """The drift as a DataFrame: model, input, sample, recorded, live, drifted."""
        import pandas as pd

        rows = [
            {
                "model": d.model,
                "input": d.input,
                "generation_index": d.sample_index,
                "recorded": d.recorded,
                "live": d.live,
                "drifted": d.drifted,
            }
            for d in self._session.drift
        ]
        return pd.DataFrame(
            rows, columns=["model", "input", "generation_index", "recorded", "live", "drifted"]
        )

    def summary(self) -> str:
        s = self._session
        state = "stopped" if self.stopped else "open"
        if s.mode == "record":
            return f"recording {s.path.name} ({state}): {len(s.entries)} answers, {s.recorded} recorded now"
        if s.compare:
            drifted = sum(d.drifted for d in s.drift)
            return (
                f"comparing with {s.path.name} ({state}): {len(s.drift)} answers run live, {drifted} drifted"
            )
        return (
            f"replaying {s.path.name} ({state}): {len(s.entries)} answers, {s.served} served, "
            f"{s.not_recorded} not recorded"
        )

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def _repr_html_(self) -> str:
        badge = "recording" if self.mode == "record" else "replayed"
        return (
            f'<span style="background:#fef3c7;color:#92400e;border-radius:3px;padding:1px 5px;'
            f'font-size:11px">{badge}</span> {html.escape(self.summary())}'
        )


def record(path: Union[str, Path], *, fresh: bool = False) -> BundleSession:
    """Record every answer this kernel's cells receive into the bundle at `path`.

    Use it as a context manager, or call `stop()` (``%nbllm_record stop`` for the magic). An
    existing bundle is extended (an answer recorded again replaces the old one); ``fresh=True``
    starts it empty. Answers are written as they arrive; API keys are never written.
    """
    path = Path(path)
    entries = {}
    if path.exists():
        if fresh:
            if not bundle.looks_like_bundle(path):
                raise BundleError(
                    f"{str(path)!r} is not a replay bundle; choose another path to record into."
                )
        else:
            try:
                entries = bundle.load(path)
            except BundleError as exc:
                raise BundleError(f"{exc} To record it anew, use record(..., fresh=True).") from None
    return BundleSession(sessions.open_session(sessions.Session(path, "record", entries, fresh=fresh)))


def replay(
    path: Union[str, Path], *, compare: bool = False, fallback: Optional[Union[str, Any]] = None
) -> BundleSession:
    """Serve answers from the bundle at `path` instead of calling the model: they are marked
    recorded (``stats.recorded``, a ``recorded`` column, a badge), and need no key or server.

    ``compare=True`` runs the model live instead and notes which answers drifted from the
    recording (``.drift``, ``.drift_frame()``). A request the bundle does not hold fails with
    NotRecordedError, unless ``fallback="embedded"`` (or an LLM) answers it, marked as such.
    """
    entries = bundle.load(path)
    fallback_llm = _fallback(fallback)
    config = fallback_llm._engine_config() if fallback_llm is not None else None
    session = sessions.Session(path, "replay", entries, compare=compare, fallback=config)
    return BundleSession(sessions.open_session(session), fallback_llm)


def _fallback(fallback: Any) -> Any:
    if fallback is None:
        return None
    if fallback == "embedded":
        from nbllm.llms.llamacpp.llm import LlamaCppLLM

        return LlamaCppLLM()
    if hasattr(fallback, "_engine_config"):
        return fallback
    raise UsageError(f"fallback must be 'embedded' or an LLM, not {fallback!r}.")

"""The arena's votes: a SQLite file a whole class can share (several kernels voting at once lose
nothing), and the ranking they give: Bradley-Terry scores fitted by choix, with bootstrap
intervals, wins, votes and the win-rate matrix.

Runs on the caller's thread (each vote is one short transaction).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbllm.errors import InvalidParameterError, MissingDependencyError
from nbllm.llms.backend import model_identity
from nbllm.notebook.handed_in import check_file

CHOICES = ("A", "B", "tie", "both_bad")
FILE_LIMIT = 256 * 2**20  # bytes: a whole class's shared file fits; a bigger one is not read
ELO = 400 / math.log(10)  # Bradley-Terry log-strengths on the Elo scale, centred on 1000
SCHEMA = """CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, prompt TEXT NOT NULL,
    a TEXT NOT NULL, b TEXT NOT NULL, winner TEXT NOT NULL, voter TEXT NOT NULL DEFAULT '',
    a_id TEXT NOT NULL DEFAULT '', b_id TEXT NOT NULL DEFAULT '', uid TEXT NOT NULL DEFAULT '')"""
# Files written before votes carried what was compared (and an id of their own): the columns
# are added, empty.
ADDED_COLUMNS = ("a_id", "b_id", "uid")


@dataclass(frozen=True)
class Vote:
    prompt: str
    a: str  # the contender shown as A, by the name the arena gave it
    b: str
    winner: str  # "A", "B", "tie" or "both_bad"
    voter: str = ""
    a_id: str = ""  # what the contender really was (model identity, settings, template...)
    b_id: str = ""
    uid: str = ""  # the vote's own id: a vote read from two files counts once when pooled


def rests_on(voters: int, votes: int) -> str:
    """What a ranking rests on, in words: "3 voters, 48 votes"."""
    return f"{voters} voter{'s' * (voters != 1)}, {votes} vote{'s' * (votes != 1)}"


def choice(value: str) -> str:
    """A vote as one of CHOICES ("a", "B", "Tie", "both bad" are accepted), or an error."""
    normal = str(value).strip().replace(" ", "_")
    for known in CHOICES:
        if normal.lower() == known.lower():
            return known
    raise InvalidParameterError(f"vote({value!r}): vote 'A', 'B', 'tie' or 'both_bad'.", "vote")


class VoteStore:
    """Votes in a SQLite file, waiting up to 30 s for another voter's write. A file voted into
    is in WAL mode (several kernels at once); an exported one (``wal=False``) in the rollback
    mode, which any reader can open, in a folder it may not write to as well."""

    def __init__(self, path: str | Path, wal: bool = True) -> None:
        self.path = Path(path).absolute()  # a later %cd does not move it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + 30
        while True:  # another voter may be creating the file at this very moment
            db = self._connect()
            try:
                db.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")  # kept in the file
                with db:
                    db.execute(SCHEMA)
                    have = {row[1] for row in db.execute("PRAGMA table_info(votes)")}
                    for column in ADDED_COLUMNS:
                        if column not in have:
                            try:
                                db.execute(f"ALTER TABLE votes ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
                            except sqlite3.OperationalError as exc:  # another kernel added it first
                                if "duplicate column" not in str(exc):
                                    raise
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)  # waits up to 30 s for another writer

    def add(self, vote: Vote) -> None:
        db = self._connect()
        try:
            with db:
                db.execute(
                    "INSERT INTO votes (time, prompt, a, b, winner, voter, a_id, b_id, uid)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        time.time(),
                        vote.prompt,
                        vote.a,
                        vote.b,
                        choice(vote.winner),
                        vote.voter,
                        vote.a_id,
                        vote.b_id,
                        vote.uid or uuid.uuid4().hex,
                    ),
                )
        finally:
            db.close()

    def votes(self) -> list[Vote]:
        return read_votes(self.path)


def read_votes(path: str | Path, field: str = "path") -> list[Vote]:
    """Every vote in the file at `path`, oldest first, read without writing to it (a vote from
    before votes had ids gets one made of what it holds). Only a regular file of at most
    ``FILE_LIMIT`` bytes is opened; the error names the file and says why it is not read."""
    path = Path(path)
    if not os.path.lexists(path):
        raise InvalidParameterError(f"No vote file at {path}.", field)
    check_file(path, FILE_LIMIT, "vote file", field)
    uri = path.resolve().as_uri()
    try:
        try:
            rows = _rows(f"{uri}?mode=ro")
        except sqlite3.OperationalError as exc:
            # a WAL file in a folder this reader may not write to: SQLite cannot open it as a live
            # reader does, but can as a file nobody changes, if all its votes are in the file
            kind = getattr(exc, "sqlite_errorname", "")
            if not (kind.startswith("SQLITE_READONLY") or kind == "SQLITE_CANTOPEN") or _wal(path):
                raise
            rows = _rows(f"{uri}?mode=ro&immutable=1")
    except sqlite3.DatabaseError as exc:
        kind = getattr(exc, "sqlite_errorname", "")
        if kind == "SQLITE_NOTADB":
            raise InvalidParameterError(f"{path} is not an arena's vote file ({exc}).", field) from None
        if kind == "SQLITE_CORRUPT":
            raise InvalidParameterError(f"{path} is a damaged vote file ({exc}).", field) from None
        where = kind.startswith("SQLITE_READONLY") or kind == "SQLITE_CANTOPEN"
        advice = ": copy it (and its -wal file) to a folder you can write to, and read it there" * where
        raise InvalidParameterError(f"{path} could not be read ({exc}){advice}.", field) from None
    if rows is None:
        raise InvalidParameterError(f"{path} holds no arena votes.", field)
    votes = []
    for when, *fields in rows:
        if not fields[-1]:
            fields[-1] = hashlib.sha256(repr((when, *fields[:-1])).encode()).hexdigest()[:32]
        votes.append(Vote(*fields))
    return votes


def _wal(path: Path) -> bool:
    """Whether votes may wait in the file's write-ahead log, beside it."""
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False


def _rows(uri: str) -> list[Any] | None:
    """The votes table's rows (columns it lacks read as ''), or None if the file has none."""
    db = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        have = {row[1] for row in db.execute("PRAGMA table_info(votes)")}
        if not have:
            return None
        wanted = ["time", "prompt", "a", "b", "winner", "voter", *ADDED_COLUMNS]
        columns = ", ".join(c if c in have else "''" for c in wanted)
        return db.execute(f"SELECT {columns} FROM votes ORDER BY id").fetchall()
    finally:
        db.close()


def ranking(votes: Sequence[Vote], contenders: Sequence[str], resamples: int = 200, seed: int = 0) -> Any:
    """One row per contender, best first: ``score`` (Bradley-Terry on the Elo scale, in whole
    points), ``low`` and ``high`` (a 95% interval), ``wins`` (outright) and ``votes``. In the fit
    a tie counts as a win for each side; "both bad" says nothing about the order and only counts
    as a vote. A contender nobody has voted on has no score.

    The interval is a parametric bootstrap: the pairs that met stay as they were, who won each
    comparison is drawn again from the fitted strengths, and the refits' spread is placed on
    the estimate. Resampling the votes instead gives
    contenders that were only tied (or votes that all agree) an interval of zero width, which
    reads as certainty after a handful of votes."""
    import numpy as np
    import pandas as pd

    names = list(contenders)
    data = _comparisons(votes, names)
    scores = _fit(data, len(names))
    rng = np.random.default_rng(seed)
    draws = []
    if data:
        pairs = np.asarray(data)
        strengths = (scores - 1000.0) / ELO
        beats = 1.0 / (1.0 + np.exp(strengths[pairs[:, 1]] - strengths[pairs[:, 0]]))
        for _ in range(resamples):
            keep = rng.random(len(pairs)) < beats
            drawn = np.where(keep[:, None], pairs, pairs[:, ::-1])
            draws.append(_fit([tuple(row) for row in drawn.tolist()], len(names)))
    if draws:  # the draws' spread around their middle, placed on the estimate (the prior pulls
        # every refit toward 1000, so the draws' own percentiles sit beside a strong estimate)
        q_low, middle, q_high = np.percentile(draws, [2.5, 50, 97.5], axis=0)
        low, high = scores - (middle - q_low), scores + (q_high - middle)
    else:
        low, high = scores, scores
    wins = {n: 0 for n in names}
    seen = {n: 0 for n in names}
    for v in votes:
        for side in (v.a, v.b):
            if side in seen:
                seen[side] += 1
        winner = {"A": v.a, "B": v.b}.get(v.winner)
        if winner in wins:
            wins[winner] += 1
    unseen = [seen[n] == 0 for n in names]
    scores, low, high = (
        pd.array(np.where(unseen, np.nan, np.round(np.asarray(v, dtype=float))), dtype="Int64")
        for v in (scores, low, high)
    )
    frame = pd.DataFrame(
        {"contender": names, "score": scores, "low": low, "high": high,
         "wins": [wins[n] for n in names], "votes": [seen[n] for n in names]}
    )  # fmt: skip
    return frame.sort_values("score", ascending=False, ignore_index=True, na_position="last")


def win_rates(votes: Sequence[Vote], contenders: Sequence[str]) -> Any:
    """Row beats column: the share of their votes (ties as half) the row's contender won; NaN
    where the two never met."""
    import pandas as pd

    names = list(contenders)
    won = pd.DataFrame(0.0, index=names, columns=names)
    met = pd.DataFrame(0.0, index=names, columns=names)
    for v in votes:
        if v.a not in won.index or v.b not in won.index or v.winner == "both_bad":
            continue
        met.loc[v.a, v.b] += 1
        met.loc[v.b, v.a] += 1
        share = {"A": (1.0, 0.0), "B": (0.0, 1.0), "tie": (0.5, 0.5)}[v.winner]
        won.loc[v.a, v.b] += share[0]
        won.loc[v.b, v.a] += share[1]
    return won / met.where(met > 0)


def _comparisons(votes: Sequence[Vote], names: list[str]) -> list[tuple[int, int]]:
    """(winner, loser) index pairs: a tie is one each way, "both bad" none."""
    index = {n: i for i, n in enumerate(names)}
    data: list[tuple[int, int]] = []
    for v in votes:
        if v.a not in index or v.b not in index:
            continue
        a, b = index[v.a], index[v.b]
        if v.winner == "A":
            data.append((a, b))
        elif v.winner == "B":
            data.append((b, a))
        elif v.winner == "tie":
            data.extend([(a, b), (b, a)])
    return data


def _fit(data: Sequence[tuple[int, int]], count: int) -> Any:
    """Bradley-Terry scores on the Elo scale, centred on 1000."""
    import numpy as np

    try:
        import choix
    except ImportError:
        raise MissingDependencyError(
            "the arena's ranking needs choix: pip install 'nbllm[compare]'"
        ) from None
    if not data:
        return np.full(count, 1000.0)
    # alpha: a prior of about one pseudo-vote each way, so three votes cannot make a 1500-point gap
    strengths = choix.ilsr_pairwise(count, list(data), alpha=1.0)
    return 1000.0 + ELO * (strengths - strengths.mean())


def contender_id(item: Any, llm: Any, options: dict[str, Any]) -> str:
    """What a contender really is, as a short digest: an LLM's model identity, settings and
    system prompt; a dict of settings or a prompt template with the LLM it runs on; a generator
    with its job. Two model_copy()s with other settings, or one name on two models, differ."""
    if isinstance(item, dict):
        what: dict[str, Any] = {"settings": item, "on": _model(llm), "options": options}
    elif isinstance(item, str):
        what = {"template": item, "on": _model(llm), "options": options}
    elif hasattr(item, "job"):
        what = {"generator": type(item).__name__, "name": item.name, "job": repr(item.job)}
        what["on"] = _model(getattr(item, "llm", None))
    else:
        what = {"llm": _model(item), "options": options}
    blob = json.dumps(what, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _model(llm: Any) -> Any:
    if llm is None:
        return None
    params = getattr(llm, "params", None)
    return {
        "identity": model_identity(llm),
        "params": params.set_values() if hasattr(params, "set_values") else None,
        "system": getattr(llm, "system_prompt", None),
    }

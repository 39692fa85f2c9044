"""A class's votes in one ranking: the vote files of many kernels (each student's export, or
one shared file) read together, each vote counted once however many files hold it, and the
votes about other contenders or other prompts left out with a note that says whose they are.

Runs on the caller's thread (the files are read, never written).
"""

from __future__ import annotations

import html
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbllm.errors import InvalidParameterError, NBLLMWarning
from nbllm.notebook.arena.votes import Vote, ranking, read_votes, rests_on, win_rates
from nbllm.notebook.handed_in import gather

PATTERNS = ("*.sqlite3", "*.sqlite", "*.db")  # what a folder of vote files holds


@dataclass
class Pooled:
    """Every voter's votes as one ranking: ``ranking`` (as ``Arena.ranking``), ``win_rates``,
    how many ``voters``, ``votes`` and ``files`` it rests on, and what was ``left_out``."""

    ranking: Any
    win_rates: Any
    voters: int
    votes: int
    files: int
    left_out: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # one vote, two outcomes, in two files

    @property
    def basis(self) -> str:
        return rests_on(self.voters, self.votes)

    def plot(self) -> Any:
        """The ranking and win rates, the title saying how many voters and votes they rest on."""
        from nbllm.notebook.arena.ranking import plot_ranking

        return plot_ranking(self.ranking, self.win_rates, basis=self.basis)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.left_out)
        clashes = "".join(f"<li>{html.escape(n)}</li>" for n in self.conflicts)
        return (
            f"<p>One ranking from {self.basis} in {self.files} file{'s' * (self.files != 1)}.</p>"
            + self.ranking.to_html(index=False, na_rep="")
            + (f"<p>Left out:</p><ul>{notes}</ul>" if notes else "")
            + (
                f"<p>One vote, two outcomes (the first file's counted):</p><ul>{clashes}</ul>"
                if clashes
                else ""
            )
        )


def pool(sources: Any, ids: dict[str, str] | None = None, prompts: list[str] | None = None) -> Pooled:
    """Pool the vote files in `sources` (a file, a folder of them, or a list of either).

    `ids` (name -> what the contender is) and `prompts` are the arena's; without them the
    contenders and prompts are those of the first readable file's votes. A vote is counted once
    by its id; a vote about other contenders or prompts, or one that does not say what was
    compared, is left out and the note names the file and voter it came from. A file that
    cannot be read (not a regular file, over 256 MB, not a vote file) is left out with
    a note saying why; two files that hold one vote with different outcomes keep the first
    file's (in the order read), and ``conflicts`` (and a warning) names both."""
    files = gather(sources, PATTERNS, "vote file", "sources", "Pool")
    read: list[tuple[Path, Vote]] = []
    unread: dict[Path, str] = {}
    for path in files:
        try:
            read.extend((path, vote) for vote in read_votes(path, "sources"))
        except InvalidParameterError as exc:
            unread[path] = str(exc)
    if len(unread) == len(files):
        raise InvalidParameterError("No vote file could be read: " + " ".join(unread.values()), "sources")
    if ids is None:
        start = next(p for p in files if p not in unread)
        first = [v for p, v in read if p == start and v.a_id and v.b_id]
        if not first:
            raise InvalidParameterError(f"{start} holds no votes that say what was compared.", "sources")
        names: dict[str, Counter[str]] = {}
        for v in first:
            names.setdefault(v.a_id, Counter())[v.a] += 1
            names.setdefault(v.b_id, Counter())[v.b] += 1
        ids = {count.most_common(1)[0][0]: ident for ident, count in names.items()}
        prompts = prompts or list(dict.fromkeys(v.prompt for v in first))
    known = {ident: name for name, ident in ids.items()}
    asked = set(prompts or [])
    counted: dict[str, tuple[Vote, Path]] = {}
    conflicts: list[str] = []
    other: Counter[tuple[str, str, str]] = Counter()  # (why, file, voter) -> votes
    for path, v in read:
        who = v.voter or path.stem
        if not (v.a_id and v.b_id):
            other["do{es} not say what was compared (made before votes did)", path.name, who] += 1
        elif v.a_id not in known or v.b_id not in known:
            other["{are} about other contenders", path.name, who] += 1
        elif asked and v.prompt not in asked:
            other["{are} about other prompts", path.name, who] += 1
        elif v.uid in counted:
            kept, where = counted[v.uid]
            if _outcome(kept, known) != _outcome(v, known):
                conflicts.append(
                    f"vote {v.uid[:12]} is in {where.name} ({_outcome(kept, known)}) and in {path.name} "
                    f"({_outcome(v, known)}): the one in {where.name}, read first, was counted"
                )
        else:
            vote = Vote(v.prompt, known[v.a_id], known[v.b_id], v.winner, who, v.a_id, v.b_id, v.uid)
            counted[v.uid] = (vote, path)
    votes = [vote for vote, _ in counted.values()]
    left_out = list(unread.values()) + [
        f"{n} vote{'s' * (n != 1)} in {file} (voter {voter!r}) "
        + why.format(are="are" if n != 1 else "is", es="" if n != 1 else "es")
        for (why, file, voter), n in other.items()
    ]
    if conflicts:
        warnings.warn(
            f"{len(conflicts)} vote{'s' * (len(conflicts) != 1)} held by two files with different "
            "outcomes; the first file's counted: " + "; ".join(conflicts),
            NBLLMWarning,
            stacklevel=3,
        )
    contenders = list(ids)
    return Pooled(
        ranking(votes, contenders),
        win_rates(votes, contenders),
        len({v.voter for v in votes}),
        len(votes),
        len(files),
        left_out,
        conflicts,
    )


def _outcome(vote: Vote, known: dict[str, str]) -> str:
    """What a vote says, in words: "on 'Name a colour.': careful won" (or "a tie", "both bad")."""
    said = {"A": f"{known[vote.a_id]} won", "B": f"{known[vote.b_id]} won", "tie": "a tie"}
    return f"on {vote.prompt[:40]!r}: {said.get(vote.winner, 'both bad')}"

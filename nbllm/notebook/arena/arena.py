"""Arena: a blind side-by-side vote. Two anonymous answers to the same prompt (the order drawn
at random), a vote for A, B, a tie or both bad (buttons, or the keys a / b / t / x), and only
then, on that same pair, which contender was which (until "Next pair", or the key n). The votes go to a SQLite file a class can share; ``ranking()``
turns them into Bradley-Terry scores.

Built and clicked on the kernel's thread; the next pair's answers are made ahead on the
"nbllm-arena" thread while the current pair is read, so a vote returns at once.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import html
import json
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w

from nbllm.errors import InvalidParameterError
from nbllm.notebook.arena.view import LABELS, ArenaView
from nbllm.notebook.arena.votes import Vote, VoteStore, choice, contender_id, ranking, rests_on, win_rates
from nbllm.notebook.display.style import offline_style


@dataclass
class Pair:
    """One round: a prompt and two contenders' answers, shown as A and B."""

    prompt: str
    a: str
    b: str
    answer_a: str
    answer_b: str
    failed: str = ""  # why a contender had no answer: such a pair is not put to a vote


class Arena(w.VBox):
    """``Arena(contenders, prompts, llm=None, path=None)``.

    Contenders (a list, or a dict of name -> contender): LLMs, parameter settings (dicts, run on
    `llm`), generators, or prompt variants (strings with ``{prompt}``, run on `llm`). `llm`
    defaults to nbllm's embedded model. `path` is the votes file (default: one per set of
    contenders and prompts in nbllm's cache folder). ``vote("A" | "B" | "tie" | "both_bad")`` votes from
    code for the pair being judged (a decided pair still on screen is left for it); after a
    vote the decided pair stays on screen with its contenders' names until ``next()`` (the
    "Next pair" button, or the key n)."""

    def __init__(
        self,
        contenders: Any,
        prompts: list[str],
        llm: Any = None,
        path: str | Path | None = None,
        seed: int | None = None,
        voter: str = "",
        **options: Any,
    ) -> None:
        self.contenders = _named(contenders)
        if len(self.contenders) < 2:
            raise InvalidParameterError("an arena needs at least two contenders to compare.", "contenders")
        if (
            isinstance(prompts, str)
            or not prompts
            or not all(isinstance(p, str) and p.strip() for p in prompts)
        ):
            raise InvalidParameterError("prompts must be a non-empty list of non-empty strings.", "prompts")
        if llm is None and any(isinstance(c, (dict, str)) for c in self.contenders.values()):
            from nbllm.llms.default import default_llm

            llm = default_llm()
        self.llm, self.prompts, self.options, self.voter = llm, list(prompts), options, voter
        # what each contender really is: votes are stored and counted by it, not by its name
        self.ids: dict[str, str] = {}
        for name, item in self.contenders.items():
            ident = contender_id(item, llm, options)
            self.ids[name] = ident if ident not in self.ids.values() else f"{ident}:{name}"  # one LLM twice
        self.store = VoteStore(path or _default_path(list(self.ids.values()), self.prompts))
        self._rng = random.Random(seed)
        self._order: list[str] = []
        self._ahead = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-arena")
        self.revealed: Pair | None = None  # the last pair voted on
        self._showing_reveal = False  # it is on screen, named, until "next"
        self._last = ""
        self.skipped: list[Pair] = []  # pairs not put to a vote: a contender gave no answer
        self._voting = threading.Lock()
        self._round = 0
        self._build()
        self.current: Pair = self._draw()
        self._next = self._ahead.submit(self._draw)
        self._show()

    # -- rounds ------------------------------------------------------------------------------
    def vote(self, winner: str) -> Pair:
        """Vote on the pair being judged; returns it, now shown revealed until ``next()``."""
        winner = choice(winner)
        with self._voting:
            return self._vote(winner)

    def _vote(self, winner: str) -> Pair:
        self._showing_reveal = False  # a vote from code while a decided pair is shown: on to the next
        pair = self.current
        if pair.failed:  # never a vote: the next pair is drawn instead
            self._advance()
            self._show(note="That pair was skipped, not voted on.")
            return pair
        self.store.add(
            Vote(pair.prompt, pair.a, pair.b, winner, self.voter, self.ids[pair.a], self.ids[pair.b])
        )
        self.revealed, self._last = pair, winner
        self._advance()
        self._showing_reveal = True  # the decided pair stays on screen, named, until "next"
        self._show()
        return pair

    def _advance(self) -> None:
        self.current = self._next.result()
        self._next = self._ahead.submit(self._draw)
        self._round += 1

    def next(self) -> None:
        """Leave the decided pair (shown with its contenders' names) for the next pair to judge."""
        with self._voting:
            if self._showing_reveal:
                self._showing_reveal = False
                self._show()

    def _from_browser(self, content: dict[str, Any]) -> None:
        """A vote or "next" from the buttons or keys. A vote names the round of the pair the
        voter saw; one for a pair already decided (from code, meanwhile) is not counted, and the
        status says so."""
        if "next" in content:
            self.next()
            return
        if content.get("vote") not in LABELS:
            return
        with self._voting:
            if content.get("round") == self._round and not self._showing_reveal:
                self._vote(choice(content["vote"]))
            else:
                self._show(note="Your vote came after that pair was decided, so it was not counted.")

    def votes(self) -> list[Vote]:
        """The votes about these contenders (by what they are, under this arena's names) on
        this arena's prompts; a shared file's other votes are left out (see ``other_votes``)."""
        return self._split()[0]

    def other_votes(self) -> int:
        """How many votes in the file are about other contenders or other prompts (or older
        votes that do not say what was compared): never counted in this arena's ranking."""
        return self._split()[1]

    def _split(self) -> tuple[list[Vote], int]:
        """One read of the file: this arena's votes (under its names) and how many others."""
        names = {ident: name for name, ident in self.ids.items()}
        asked = set(self.prompts)
        everything = self.store.votes()
        mine = [
            Vote(v.prompt, names[v.a_id], names[v.b_id], v.winner, v.voter, v.a_id, v.b_id, v.uid)
            for v in everything
            if v.a_id in names and v.b_id in names and v.prompt in asked
        ]
        return mine, len(everything) - len(mine)

    def ranking(self, resamples: int = 200, seed: int = 0) -> Any:
        """One row per contender: contender, score (Bradley-Terry, Elo scale), low, high (a
        bootstrap interval), wins, votes; best first."""
        return ranking(self.votes(), list(self.contenders), resamples, seed)

    def win_rates(self) -> Any:
        """How often the row's contender beat the column's (ties as half)."""
        return win_rates(self.votes(), list(self.contenders))

    def plot_ranking(self) -> Any:
        from nbllm.notebook.arena.ranking import plot_ranking

        votes = self.votes()
        basis = rests_on(len({v.voter for v in votes}), len(votes))
        return plot_ranking(self.ranking(), self.win_rates(), basis=basis)

    def export_votes(self, path: str | Path) -> Path:
        """Copy this arena's votes (each with its id) to the vote file at `path`, for a
        teacher to pool with ``Arena.pooled``; votes the file already holds are not added again.
        The file is in SQLite's rollback mode: it reads anywhere, a read-only folder too."""
        target = VoteStore(path, wal=False)
        have = {v.uid for v in target.votes()}
        for vote in self._split()[0]:
            if vote.uid not in have:
                target.add(vote)
        return target.path

    @staticmethod
    def pooled(sources: Any, arena: Arena | None = None) -> Any:
        """One ranking from many vote files (a folder, a glob pattern, a file, or a list of them: each
        student's ``export_votes``, or one shared file). A vote held by two files counts once;
        votes about other contenders or prompts than `arena`'s (by default, the first file's)
        are left out, and ``left_out`` says whose they are."""
        from nbllm.notebook.arena.pool import pool

        if arena is None:
            return pool(sources)
        return pool(sources, ids=arena.ids, prompts=arena.prompts)

    def _draw(self, tries: int = 3) -> Pair:
        """The next pair; one where a contender failed to answer (a 429, a dead engine) is
        skipped, never voted on: up to `tries` pairs, then the failure is shown, with no buttons."""
        for _ in range(tries):
            if not self._order:
                self._order = list(self.prompts)
                self._rng.shuffle(self._order)
            prompt = self._order.pop()
            a, b = self._rng.sample(list(self.contenders), 2)
            answers = [self._answer(name, prompt) for name in (a, b)]
            failed = "; ".join(f"{name}: {error}" for name, (_, error) in zip((a, b), answers) if error)
            pair = Pair(prompt, a, b, answers[0][0], answers[1][0], failed)
            if not failed:
                return pair
            self.skipped.append(pair)
        return pair

    def _answer(self, name: str, prompt: str) -> tuple[str, str]:
        """(text, "") or ("", why there is none)."""
        contender = self.contenders[name]
        try:
            if isinstance(contender, dict):
                (output,) = self.llm.generate([prompt], **{**self.options, **contender})
            elif isinstance(contender, str):
                (output,) = self.llm.generate([contender.format(prompt=prompt)], **self.options)
            elif hasattr(contender, "job"):  # a generator
                result = contender.generate([prompt])[0]
                result = result[0] if isinstance(result, list) else result
                return str(getattr(result, "text", None) or getattr(result, "output", "")), ""
            else:
                (output,) = contender.generate([prompt], **self.options)
            generation = output.generations[0]
            return (generation.text, "") if generation.ok else ("", str(generation.error))
        except Exception as exc:
            return "", f"{type(exc).__name__}: {exc}"

    # -- view --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = ArenaView()
        self.view.on_msg(lambda _, content, __: self._from_browser(content))
        self.status = w.HTML()
        self.status.add_class("nbllm-status")
        super().__init__([self.view, self.status])
        self.add_class("nbllm-arena")
        offline_style(self)

    def _show(self, note: str = "") -> None:
        shown = self.revealed if self._showing_reveal and self.revealed is not None else self.current
        with self.view.hold_sync():
            self.view.prompt = shown.prompt
            self.view.answers = [shown.answer_a, shown.answer_b]
            self.view.round = self._round - 1 if shown is not self.current else self._round
            self.view.revealed = [shown.a, shown.b] if shown is not self.current else []
            self.view.said = self._last if shown is not self.current else ""
            self.view.votable = not shown.failed
        if shown.failed:
            note = f"No vote on this pair: {shown.failed}. {note}".strip()
        elif self.skipped:
            note = f"{len(self.skipped)} pairs skipped: a contender gave no answer. {note}".strip()
        mine, others = self._split()
        votes = len(mine)
        if others:
            note = (
                f"{others} other votes in {self.store.path.name} are about other contenders or "
                f"prompts (or do not say what was compared) and are not counted. {note}"
            ).strip()
        if shown is self.current:
            status = f"<i>{votes} votes so far. Which answer is better?</i>"
        else:  # the reveal stands beside the pair it names, never under the next one
            said = {"A": "A", "B": "B", "tie": "a tie", "both_bad": "both bad"}[self._last]
            status = (
                f"<span class='nbllm-reveal'>You voted {said}: A was <b>{html.escape(shown.a)}</b>, "
                f"B was <b>{html.escape(shown.b)}</b>.</span> {votes} votes so far. "
                "<i>Next pair: press n or the button.</i>"
            )
        self.status.value = status + (f" <i class='nbllm-late'>{html.escape(note)}</i>" if note else "")


def _named(contenders: Any) -> dict[str, Any]:
    if isinstance(contenders, dict):
        for value in contenders.values():
            _check(value)
        return {str(k): v for k, v in contenders.items()}
    if not isinstance(contenders, (list, tuple)):
        raise InvalidParameterError("contenders must be a list or a dict of name -> contender.", "contenders")
    from nbllm.generators.sampler import label_of

    names: dict[str, Any] = {}
    for item in contenders:
        if isinstance(item, dict):
            name = label_of(item)
        elif isinstance(item, str):
            if "{prompt}" not in item:
                raise InvalidParameterError(
                    f"the prompt variant {item!r} has no {{prompt}} placeholder.", "contenders"
                )
            name = item
        else:
            name = getattr(item, "name", None) if hasattr(item, "job") else getattr(item, "model_name", None)
            if name is None:
                raise InvalidParameterError(
                    f"{type(item).__name__} is not a contender: use an LLM, a dict of settings, a generator "
                    "or a prompt with {prompt}.",
                    "contenders",
                )
        while name in names:
            name += "'"
        names[name] = item
    return names


def _default_path(ids: list[str], prompts: list[str]) -> Path:
    """The arena's own vote file, named by its contenders and prompts. One named by the
    contenders alone (as nbllm named them before) is kept on where it exists: its votes on
    other prompts are not counted."""
    from nbllm.engine.cache import default_cache_dir

    folder = default_cache_dir() / "arena"
    older = folder / f"{hashlib.sha256(chr(10).join(sorted(ids)).encode()).hexdigest()[:16]}.sqlite3"
    what = json.dumps({"contenders": sorted(ids), "prompts": sorted(set(prompts))})
    named = folder / f"{hashlib.sha256(what.encode()).hexdigest()[:16]}.sqlite3"
    return older if older.exists() and not named.exists() else named


def _check(item: Any) -> None:
    """A contender nbllm can run, or an error naming what it is."""
    if isinstance(item, dict):
        from nbllm.core.params import GenerationParams

        GenerationParams(**item)  # a bad setting fails now, not in front of the voters
    elif isinstance(item, str):
        if "{prompt}" not in item:
            raise InvalidParameterError(
                f"the prompt variant {item!r} has no {{prompt}} placeholder.", "contenders"
            )
    elif getattr(item, "name" if hasattr(item, "job") else "model_name", None) is None:
        raise InvalidParameterError(
            f"{type(item).__name__} is not a contender: use an LLM, a dict of settings, a generator "
            "or a prompt with {prompt}.",
            "contenders",
        )

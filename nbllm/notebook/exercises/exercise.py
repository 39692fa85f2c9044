"""Exercise: a prompting exercise that checks itself. A student writes a prompt (and, where the
exercise allows, some settings); every check runs `samples` seeded answers, marks each with the
exercise's check, and passes when at least `need` of them pass. Attempts are kept, hints unlock
after failed ones, and ``export`` writes them to a file a teacher reads with ``class_results``.

Validation runs on the caller's thread, before any request; ``check_prompt`` waits there for
the answers, and ``submit`` (the widget's Check button) waits for them on the "nbllm-exercise"
thread instead.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import inspect
import json
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nbllm.errors import InvalidParameterError
from nbllm.notebook.compare.scorers import as_scorer
from nbllm.notebook.exercises.files import Attempt, Sample, document, write


class Exercise:
    """``Exercise(task, check, samples=5, need=4, hints=[...], llm=None, **options)``.

    `check` marks one answer: an nbllm scorer (``nbllm.scorers.contains("Paris")``, ...), a
    built-in's name, or a function of the answer (or of the answer and its row: ``input`` and
    ``prompt`` hold the student's prompt, ``task`` the task). It returns a bool or a number; an
    answer passes when its mark is at least ``threshold`` (default 0.5, so True passes and False
    fails). An attempt passes when at least `need` of its `samples` answers pass.

    Answer i is generated with seed ``seed + i`` (nbllm's ``num_generations`` with ``seed=``), so
    the same prompt and settings always get the same answers and marks. `options` are the fixed
    generation settings (``max_tokens=30``, ...); `editable` names those a student may set too
    (``editable=["temperature", "max_tokens"]``): ``check_prompt(prompt, temperature=0.3)``.
    The seed is never editable. After the k-th failed attempt the k-th hint is shown (the last
    one stays). Shown in a notebook, it is a widget: task, prompt box, settings, Check, marks.
    """

    def __init__(
        self,
        task: str,
        check: Any,
        samples: int = 5,
        need: int = 4,
        hints: Sequence[str] = (),
        llm: Any = None,
        *,
        editable: Sequence[str] = (),
        threshold: float = 0.5,
        seed: int = 0,
        id: str | None = None,
        **options: Any,
    ) -> None:
        from nbllm.core.params import GenerationParams

        if not isinstance(task, str) or not task.strip():
            raise InvalidParameterError("task must be a non-empty text saying what to achieve.", "task")
        _count(samples, "samples", 1)
        _count(need, "need", 1)
        if need > samples:
            raise InvalidParameterError(
                f"need={need} is more than samples={samples}: no attempt could pass.", "need"
            )
        if isinstance(hints, str) or not isinstance(hints, Sequence):
            raise InvalidParameterError("hints must be a list of non-empty texts.", "hints")
        if not all(isinstance(h, str) and h.strip() for h in hints):
            raise InvalidParameterError("hints must be a list of non-empty texts.", "hints")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise InvalidParameterError(f"threshold={threshold!r} must be a number.", "threshold")
        _count(seed, "seed", 0)
        if seed + samples > 2**32:
            raise InvalidParameterError(f"seed={seed} leaves no room for {samples} seeds.", "seed")
        if "seed" in options or "num_generations" in options:
            name = "seed" if "seed" in options else "num_generations"
            raise InvalidParameterError(f"{name} is set by the exercise itself.", name)
        GenerationParams(**options)  # a bad fixed setting fails here, naming its field
        if isinstance(editable, str):
            editable = [editable]
        for name in editable:
            if name == "seed":
                raise InvalidParameterError(
                    "editable cannot hold 'seed': the exercise fixes the seeds so checks repeat.", "editable"
                )
            if name not in GenerationParams.model_fields:
                known = ", ".join(f for f in GenerationParams.model_fields if f != "seed")
                raise InvalidParameterError(
                    f"editable names {name!r}, not a generation setting; known: {known}.", "editable"
                )
        self.task, self.samples, self.need, self.seed = task.strip(), samples, need, seed
        self.scorer = as_scorer(check, "check")
        self._check_source = _source(check)
        self.hints, self.threshold = [h.strip() for h in hints], float(threshold)
        self.editable, self.options = list(dict.fromkeys(editable)), dict(options)
        self.id = id if id is not None else self._default_id()
        if not isinstance(self.id, str) or not self.id.strip():
            raise InvalidParameterError("id must be a non-empty text.", "id")
        if llm is None:
            from nbllm.llms.default import default_llm

            llm = default_llm()
        self.llm = llm
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Attempt], None]] = []
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._widget: Any = None

    # -- attempts ----------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        """Whether any attempt passed."""
        return any(a.passed for a in self.attempts)

    @property
    def failures(self) -> int:
        """Failed attempts so far."""
        return sum(not a.passed for a in self.attempts)

    @property
    def hint(self) -> str:
        """The hint the last attempt unlocked ("" before a failed attempt, or after a pass)."""
        return self.attempts[-1].hint if self.attempts else ""

    def hints_shown(self) -> list[str]:
        """Every hint unlocked so far, first to last."""
        return self.hints[: min(self.failures, len(self.hints))]

    def check_prompt(self, prompt: str, **settings: Any) -> Attempt:
        """Run one attempt: `samples` seeded answers to `prompt` with these settings (only the
        editable ones), each marked by the check. The attempt is kept in ``attempts`` and
        returned. Bad input raises before any request; a failed request marks its own answer."""
        chosen = self._validated(prompt, settings)
        return self._keep(self._run(prompt, chosen, self.llm, fresh=False))

    def submit(self, prompt: str, **settings: Any) -> concurrent.futures.Future[Attempt]:
        """``check_prompt`` on the "nbllm-exercise" thread (the kernel stays free): validated
        here and now, then the future of the attempt."""
        chosen = self._validated(prompt, settings)
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-exercise")
        return self._worker.submit(lambda: self._keep(self._run(prompt, chosen, self.llm, fresh=False)))

    def recheck(self, attempt: Attempt, llm: Any = None) -> Attempt:
        """Run `attempt` again under this exercise's rules (its prompt and editable settings, the
        exercise's seeds and check), answered afresh rather than from a cache, on `llm` (default:
        this exercise's). The result is returned, not kept in ``attempts``."""
        chosen = self._validated(attempt.prompt, dict(attempt.settings))
        return self._run(attempt.prompt, chosen, llm if llm is not None else self.llm, fresh=True)

    def on_attempt(self, callback: Callable[[Attempt], None]) -> Callable[[], None]:
        """Call ``callback(attempt)`` after each kept attempt; returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: callback in self._listeners and self._listeners.remove(callback)

    def _validated(self, prompt: Any, settings: dict[str, Any]) -> dict[str, Any]:
        from nbllm.core.params import GenerationParams

        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidParameterError("prompt is empty: write a prompt for the model first.", "prompt")
        for name in settings:
            if name not in self.editable:
                allowed = ", ".join(self.editable) if self.editable else "none"
                raise InvalidParameterError(
                    f"{name} is not a setting this exercise lets you change (editable: {allowed}).", name
                )
        chosen = {k: v for k, v in settings.items() if v is not None}
        GenerationParams(**{**self.options, **chosen})  # a bad value fails here, naming its field
        return chosen

    def _run(self, prompt: str, settings: dict[str, Any], llm: Any, fresh: bool) -> Attempt:
        (output,) = llm.generate(
            [prompt], num_generations=self.samples, seed=self.seed, fresh=fresh,
            **{**self.options, **settings},
        )  # fmt: skip
        generations = sorted(output.generations, key=lambda g: g.sample_index)
        answers = [g.text if g.ok else None for g in generations]
        answered = [i for i, a in enumerate(answers) if a is not None]
        row = {"input": prompt, "prompt": prompt, "task": self.task}
        scored = self.scorer.score_all([answers[i] for i in answered], [row] * len(answered))  # type: ignore[misc]
        marks: dict[int, Any] = dict(zip(answered, scored))
        samples = []
        for i, generation in enumerate(generations):
            mark = marks.get(i)
            if not generation.ok:
                error = f"the request failed: {type(generation.error).__name__}: {generation.error}"
                samples.append(Sample(i, self.seed + i, None, None, False, error))
            elif isinstance(mark, Exception):
                error = f"the check raised {type(mark).__name__}: {mark}"
                samples.append(Sample(i, self.seed + i, answers[i], None, False, error))
            else:
                samples.append(Sample(i, self.seed + i, answers[i], mark, mark >= self.threshold))
        passed = sum(s.passed for s in samples) >= self.need
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return Attempt(prompt, settings, tuple(samples), passed, now, "", uuid.uuid4().hex[:16], self.need)

    def _keep(self, attempt: Attempt) -> Attempt:
        with self._lock:
            failures = self.failures + (not attempt.passed)
            if not attempt.passed and self.hints:
                attempt = dataclasses.replace(attempt, hint=self.hints[min(failures, len(self.hints)) - 1])
            self.attempts.append(attempt)
        for callback in list(self._listeners):
            callback(attempt)
        return attempt

    # -- the file a teacher collects -----------------------------------------------------------
    def rules(self) -> dict[str, Any]:
        """What defines this exercise, as written into every student's file."""
        return {
            "id": self.id, "task": self.task, "check": self.scorer.describe, "samples": self.samples,
            "need": self.need, "threshold": self.threshold, "seed": self.seed, "options": self.options,
            "editable": self.editable, "hints": len(self.hints),
        }  # fmt: skip

    def export(self, path: str | Path, student: str | None = None) -> Path:
        """Write the attempts to the JSON file at `path` (``.json`` is added when it has no
        suffix; a folder gets ``<student>-<exercise id>.json``), whole or not at all, never with
        a credential. `student` defaults to the name the computer knows you by."""
        from nbllm.llms.backend import model_identity

        student = student if student is not None else _user()
        if not isinstance(student, str) or not student.strip():
            raise InvalidParameterError("student must be a non-empty name.", "student")
        folder = str(path).endswith(("/", "\\")) or Path(path).is_dir()
        path = Path(path)
        if folder:
            path = path / f"{_slug(student)}-{_slug(self.id)}.json"
        elif not path.suffix:
            path = path.with_suffix(".json")
        with self._lock:
            attempts = list(self.attempts)
        return write(
            path.resolve(), document(self.rules(), student.strip(), model_identity(self.llm), attempts)
        )

    def _default_id(self) -> str:
        """The task's first words and a digest of the rules: the teacher's and the students' copy
        of one exercise share it; another task, check, seed or setting makes another id."""
        rules = {
            "task": self.task, "check": [self.scorer.describe, self._check_source], "samples": self.samples,
            "need": self.need,
            "threshold": self.threshold, "seed": self.seed, "options": self.options, "editable": self.editable,
        }  # fmt: skip
        digest = hashlib.sha256(json.dumps(rules, sort_keys=True, default=repr).encode()).hexdigest()[:8]
        return f"{_slug(' '.join(self.task.split()[:5]))}-{digest}"

    # -- the widget ----------------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        """The exercise as a widget (made once): what a notebook shows for the exercise."""
        if self._widget is None:
            from nbllm.notebook.exercises.view import ExerciseView

            self._widget = ExerciseView(self)
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"{len(self.attempts)} attempts, not passed yet"
        return f"Exercise({self.id!r}: {self.need} of {self.samples} answers must pass; {state})"


def _count(value: Any, name: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidParameterError(f"{name}={value!r} must be an integer >= {least}.", name)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text.strip()).strip("-.").lower()[:60] or "exercise"


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment (some containers)
        return "student"


def _source(check: Any) -> str:
    """A function check's source text (its name alone would give two lambdas one id); empty for
    a scorer or where the source cannot be read."""
    if isinstance(check, str) or not callable(check) or not hasattr(check, "__code__"):
        return ""
    try:
        return inspect.getsource(check).strip()
    except (OSError, TypeError):
        return ""

"""A student's exercise attempts and their files: each attempt's prompt, settings, seeded
answers, marks and verdict (``Attempt``, ``Sample``); a student's attempts written to one small
JSON file (whole or not at all, credentials never written); and ``class_results``, a class's
files read into one table, each claimed pass run again on request.

Runs on the caller's thread (files read and written; a recheck waits there for its LLM).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from nbllm.core.files import write_atomically
from nbllm.errors import InvalidParameterError, NBLLMError
from nbllm.notebook.compare.saved_runs import public_identity, without_secrets
from nbllm.notebook.handed_in import gather, read_bytes

FORMAT = "nbllm-exercise"
VERSION = 1
FILE_LIMIT = 16 * 2**20  # bytes: far more than a student's attempts fill; a bigger file is left out
COLUMNS = ["student", "exercise", "passed", "attempts", "best", "best_prompt", "settings",
           "reproduced", "note", "file"]  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One seeded answer and its mark. `seed` is the exercise's seed plus `index`, as nbllm
    numbers a call's samples (a backend that takes several samples in one request is sent the
    first seed for them all). `mark` is what the check returned (True and False as 1 and 0),
    None where the request or the check failed (`error` says which and why); `passed` is the
    mark against the exercise's threshold."""

    index: int
    seed: int
    answer: str | None
    mark: float | None
    passed: bool
    error: str = ""


@dataclass(frozen=True)
class Attempt:
    """One press of Check: the prompt, the student's own settings (on top of the exercise's
    fixed ones), every seeded answer with its mark, whether enough passed, when (UTC, ISO 8601),
    and the hint shown after it ("" when it passed or the exercise has no hints)."""

    prompt: str
    settings: dict[str, Any]
    samples: tuple[Sample, ...]
    passed: bool
    timestamp: str
    hint: str = ""
    uid: str = ""  # its own id: an attempt in two handed-in files counts once
    need: int = 0

    @property
    def answers(self) -> list[str | None]:
        return [s.answer for s in self.samples]

    @property
    def marks(self) -> list[float | None]:
        return [s.mark for s in self.samples]

    @property
    def passes(self) -> int:
        """How many of its answers passed the check."""
        return sum(s.passed for s in self.samples)

    def describe(self) -> str:
        """ "4 of 5 answers pass (4 needed)"."""
        return f"{self.passes} of {len(self.samples)} answers pass ({self.need} needed)"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["settings"] = without_secrets(self.settings)
        return data


def document(rules: dict[str, Any], student: str, model: Any, attempts: list[Attempt]) -> dict[str, Any]:
    """What a student's file holds: the exercise's rules, who, on which model, every attempt."""
    from datetime import datetime, timezone

    from nbllm.notebook.compare.report import installed_version

    return {
        "format": FORMAT,
        "version": VERSION,
        "nbllm": installed_version(),
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "student": student,
        "exercise": {**rules, "options": without_secrets(rules.get("options", {}))},
        "model": public_identity(model),
        "passed": any(a.passed for a in attempts),
        "attempts": [a.to_dict() for a in attempts],
    }


def write(path: Path, doc: dict[str, Any]) -> Path:
    """Write `doc` to `path` as JSON, whole or not at all."""
    return write_atomically(path, json.dumps(doc, ensure_ascii=False, indent=1, default=str))


class _SampleShape(BaseModel):
    index: int
    seed: int
    answer: Optional[str] = None
    mark: Optional[float] = None
    passed: bool
    error: str = ""


class _AttemptShape(BaseModel):
    prompt: str
    settings: dict[str, Any] = {}
    samples: list[_SampleShape] = []
    passed: bool
    timestamp: str
    hint: str = ""
    uid: str = ""
    need: int = 0


class _RulesShape(BaseModel):
    model_config = ConfigDict(extra="allow")  # the exercise's rules as written; its id is needed

    id: str


class _FileShape(BaseModel):
    """What an exercise file must hold to be read (fields added by a later nbllm are ignored)."""

    version: int = 0
    student: str = ""
    exercise: _RulesShape
    passed: bool = False
    attempts: list[_AttemptShape] = []


def read(path: Path) -> dict[str, Any]:
    """A student's file as written by ``Exercise.export``, its attempts as Attempts; an error
    naming the file (and the field) when it is not one, or not a regular file of at most
    ``FILE_LIMIT`` bytes."""
    data = read_bytes(Path(path), FILE_LIMIT, "exercise file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidParameterError(f"{path} is not an exercise file (not JSON: {exc}).", "paths") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidParameterError(f"{path} is not an exercise file (made by exercise.export).", "paths")
    if isinstance(doc.get("version"), int) and doc["version"] > VERSION:
        raise InvalidParameterError(f"{path} was written by a newer nbllm ({doc.get('nbllm')}).", "paths")
    try:
        shape = _FileShape.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "the file"
        raise InvalidParameterError(
            f"{path} is a damaged exercise file ({field}: {first['msg']}).", "paths"
        ) from None
    attempts = [
        Attempt(**{**a.model_dump(), "samples": tuple(Sample(**s.model_dump()) for s in a.samples)})
        for a in shape.attempts
    ]
    return {**doc, "student": shape.student, "exercise": shape.exercise.model_dump(), "attempts": attempts}


def class_results(paths: Any, recheck: bool = False, llm: Any = None, exercises: Any = None) -> Any:
    """A class's exercise files in one table, a row per student and exercise.

    `paths` is a folder (its ``*.json`` files), a glob pattern, a file, or a list of these.
    Columns: student, exercise (its id), passed (as the file claims), attempts, best (the
    passing attempt's "4 of 5 answers pass (4 needed)", or the best failed one's), best_prompt
    and its settings, reproduced, note, file. A file that cannot be read is a row whose note
    says why and, for a damaged one, which field: among them anything that is not a regular
    file (a folder, a named pipe, a device or a link to one) and a file over ``FILE_LIMIT``
    (16 MB), which are never read. A student's attempts handed in twice count once; an attempt
    that two files tell differently counts as the first file read tells it, and the note names
    both files.

    ``recheck=True`` runs each claimed pass again, on the same prompt, settings and seeds,
    answered afresh (not from a cache) and marked by the teacher's own check: ``exercises=``
    gives the Exercise objects (checks are code, so files never carry them), matched to files by
    ``id``. ``reproduced`` is then True when a claimed pass passes again, False when it does
    not (the note says how it fared and how many answers differ from the file's); it is empty
    for rows not rechecked. `llm` runs the recheck (default: each exercise's own).
    """
    import pandas as pd

    known = _exercises(exercises)
    if recheck and not known:
        raise InvalidParameterError(
            "recheck=True needs the exercises whose checks to run: "
            "class_results(paths, exercises=[ex1, ex2], recheck=True).",
            "exercises",
        )
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for path in gather(paths, ("*.json",), "exercise file", "paths", "class_results"):
        try:
            doc = read(path)
        except InvalidParameterError as exc:
            rows.append({"student": path.stem, "exercise": "", "note": f"could not read: {exc}",
                         "file": path.name})  # fmt: skip
            continue
        key = (str(doc.get("student") or path.stem), str(doc["exercise"]["id"]))
        group = groups.setdefault(key, {"attempts": {}, "files": [], "clashes": []})
        group["files"].append(path.name)
        for index, attempt in enumerate(doc["attempts"]):
            uid = attempt.uid or f"{path.name}:{index}"
            kept, where = group["attempts"].setdefault(uid, (attempt, path.name))
            if kept != attempt:  # one attempt, told two ways: the first file read is kept
                group["clashes"].append(
                    f"attempt {uid[:12]} differs in {where} and {path.name}: {where}'s kept"
                )
    for (student, ident), group in groups.items():
        attempts = sorted((a for a, _ in group["attempts"].values()), key=lambda a: a.timestamp)
        row = _row(student, ident, attempts, ", ".join(group["files"]))
        if recheck and row["passed"]:
            row.update(_recheck(known.get(ident), ident, attempts, llm))
        row["note"] = "; ".join(n for n in (*group["clashes"], row["note"]) if n)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["reproduced"] = frame["reproduced"].astype("boolean")
    frame["passed"] = frame["passed"].astype("boolean")
    frame["attempts"] = frame["attempts"].astype("Int64")
    frame = frame.fillna({c: "" for c in ("exercise", "best", "best_prompt", "settings", "note")})
    return frame.sort_values(["student", "exercise"], ignore_index=True)


def _row(student: str, ident: str, attempts: list[Attempt], files: str) -> dict[str, Any]:
    passing = [a for a in attempts if a.passed]
    best = passing[0] if passing else max(reversed(attempts), key=lambda a: a.passes, default=None)
    return {
        "student": student,
        "exercise": ident,
        "passed": bool(passing),
        "attempts": len(attempts),
        "best": best.describe() if best else "",
        "best_prompt": best.prompt if best else "",
        "settings": ", ".join(f"{k}={v}" for k, v in best.settings.items()) if best else "",
        "reproduced": None,
        "note": "",
        "file": files,
    }


def _recheck(exercise: Any, ident: str, attempts: list[Attempt], llm: Any) -> dict[str, Any]:
    """Run the claimed passes again, first to last, until one passes again."""
    if exercise is None:
        return {"note": f"not rechecked: no exercise with id {ident!r} was given"}
    notes = []
    for number, attempt in enumerate(attempts, 1):
        if not attempt.passed:
            continue
        try:
            again = exercise.recheck(attempt, llm=llm)
        except NBLLMError as exc:
            notes.append(f"attempt {number} cannot be run again: {exc}")
            continue
        differ = sum(a != b for a, b in zip(again.answers, attempt.answers))
        differ += abs(len(again.samples) - len(attempt.samples))
        said = f"; {differ} of {len(again.samples)} answers differ from the file's" if differ else ""
        if again.passed:
            return {"reproduced": True, "note": f"reproduced: attempt {number}, {again.describe()}{said}"}
        notes.append(f"attempt {number} did not reproduce: now {again.describe()}{said}")
    return {"reproduced": False, "note": "; ".join(notes)}


def _exercises(exercises: Any) -> dict[str, Any]:
    if exercises is None:
        return {}
    items = [exercises] if hasattr(exercises, "recheck") else list(exercises)
    known: dict[str, Any] = {}
    for item in items:
        if not hasattr(item, "recheck") or not hasattr(item, "id"):
            raise InvalidParameterError(
                f"exercises holds a {type(item).__name__}, not an nbllm.Exercise.", "exercises"
            )
        known[item.id] = item
    return known

"""Writes the class's files that lesson 09 ships in notebooks/09_class/, on the embedded model
(offline): three students' exercise files (bob's claims a pass the model never gave him), four
students' arena votes (and one file from another arena) and last week's saved comparison.

Run it again when the embedded model or the lesson's exercises change:
``python tools/lesson_09_data.py``. The exercises and questions are read from the lesson's
source (tests/notebook/test_notebooks.py checks that the lesson's recheck confirms ada's passes).
"""

from __future__ import annotations

import ast
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd

import nbllm
from nbllm import scorers

FOLDER = Path(__file__).resolve().parents[1] / "notebooks" / "09_class"
LESSON = FOLDER.parent / "sources" / "09_prompting_exercises.py"


def from_lesson(names: tuple[str, ...], **scope: object) -> dict[str, object]:
    """The lesson's own definitions of `names`: its top-level assignments to them, run alone, so
    the files are made with exactly the lesson's exercises and questions."""
    tree = ast.parse(LESSON.read_text(encoding="utf-8"))
    wanted = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id in names for t in node.targets)
    ]
    scope = {"nbllm": nbllm, "scorers": scorers, "pd": pd, **scope}
    exec(compile(ast.Module(wanted, type_ignores=[]), str(LESSON), "exec"), scope)
    return {name: scope[name] for name in names}


def exercises(llm: nbllm.LLM) -> dict[str, nbllm.Exercise]:
    """The lesson's three exercises, on `llm`."""
    return from_lesson(("capital", "digits", "fruits"), llm=llm)  # type: ignore[return-value]


def attempts(llm: nbllm.LLM) -> None:
    folder = FOLDER / "attempts"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ada = exercises(llm)
    ada["capital"].check_prompt("Tell me about Australia.")
    ada["capital"].check_prompt("What is the capital of Australia?")
    ada["fruits"].check_prompt("List three fruits, one per line.")
    ada["digits"].check_prompt("How many legs does a spider have? Answer with digits only.")
    for exercise in ada.values():
        exercise.export(folder, student="ada")
    bob = exercises(llm)
    bob["capital"].check_prompt("Tell me about Australia.")
    path = bob["capital"].export(folder, student="bob")
    saved = json.loads(path.read_text(encoding="utf-8"))  # bob edits his file to claim a pass
    saved["passed"] = saved["attempts"][0]["passed"] = True
    saved["attempts"][0]["samples"] = [
        {**s, "mark": 1.0, "passed": True} for s in saved["attempts"][0]["samples"]
    ]
    path.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    cy = exercises(llm)
    cy["fruits"].check_prompt("Name three fruits.")
    cy["fruits"].check_prompt("Name three fruits, one per line.", max_tokens=20)
    cy["digits"].check_prompt("How many legs does a spider have?")
    for name in ("fruits", "digits"):
        cy[name].export(folder, student="cy")


def votes() -> None:
    folder = FOLDER / "votes"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    contenders = {"careful": {"temperature": 0.3}, "wild": {"temperature": 1.2}}
    prompts = ["Name a colour.", "Name a fruit.", "Name an animal."]
    likes = {"ada": "careful", "bob": "careful", "cy": "careful", "dee": "wild"}
    with tempfile.TemporaryDirectory() as scratch:
        for seed, (voter, liked) in enumerate(likes.items()):
            arena = nbllm.Arena(
                contenders,
                prompts,
                path=Path(scratch) / f"{voter}.sqlite3",
                voter=voter,
                seed=seed,
                max_tokens=8,
            )
            for turn in range(4):
                picked = liked if turn != 3 else next(c for c in contenders if c != liked)  # one doubt each
                arena.vote("A" if arena.current.a == picked else "B")
                arena.next()
            arena.export_votes(folder / f"{voter}.sqlite3")
        other = nbllm.Arena(
            {"short": {"max_tokens": 4}, "long": {"max_tokens": 16}},
            prompts,
            path=Path(scratch) / "zed.sqlite3",
            voter="zed",
            seed=9,
        )
        other.vote("A")
        other.export_votes(folder / "zed.sqlite3")
    for path in folder.glob("*.sqlite3"):  # one file each, with nothing left in a side file
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
        db.close()


def last_week(llm: nbllm.LLM) -> None:
    result = nbllm.compare(
        from_lesson(("questions",))["questions"],
        params=[{"temperature": 0.3}, {"temperature": 1.0}],
        llm=llm,
        samples=4,
        scorers={"right": scorers.reference("answer")},
        max_tokens=30,
        progress=False,
    )
    result.save(FOLDER / "last_week.json")


def main() -> None:
    llm = nbllm.LlamaCppLLM(cache=False)
    attempts(llm)
    votes()
    last_week(llm)
    for path in sorted(FOLDER.rglob("*.*")):
        print(path.relative_to(FOLDER.parent), path.stat().st_size)


if __name__ == "__main__":
    main()

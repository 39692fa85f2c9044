"""Files from a class, some careless, one hostile, read safely: a named pipe, a folder, a link to
a device, a link to nothing or an oversized file in a hand-in folder is left out with a note
naming it (never read, so nothing stalls); a damaged exercise file is its own row naming the
field while the others' rows stay whole. Real files, pipes and links; no model runs (scripted
answers)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import nbllm
from nbllm.notebook.exercises import files
from nbllm.notebook.exercises.files import Attempt, Sample
from tests.scripted import ScriptedLLM


def _hand_in(folder: Path, student: str) -> Path:
    """A student's exercise file, as Exercise.export writes it: one passing attempt."""
    attempt = Attempt("Say Paris.", {"temperature": 0.2}, (Sample(0, 0, "Paris", 1.0, True),), True,
                      "2026-01-05T10:00:00+00:00", uid=f"{student}-1", need=1)  # fmt: skip
    doc = files.document({"id": "france", "task": "Name the capital."}, student, {"model": "m"}, [attempt])
    return files.write(folder / f"{student}.json", doc)


def _arena(path: Path, vote: bool = False) -> nbllm.Arena:
    arena = nbllm.Arena({"careful": {"temperature": 0.3}, "wild": {"temperature": 1.2}}, ["Name a colour."],
                        llm=ScriptedLLM(), path=path, seed=0)  # fmt: skip
    if vote:
        arena.vote("A")
    return arena


def _pipe(path: Path) -> None:
    os.mkfifo(path)  # no writer: opening it to read would wait for ever


def _huge(path: Path) -> None:
    with open(path, "wb") as big:  # a real (sparse) file just over the documented limit
        big.truncate((256 if path.suffix == ".sqlite3" else 16) * 2**20 + 1)


SPECIAL = {
    "pipe": (_pipe, "is a named pipe (FIFO), not a file: left out"),
    "folder": (Path.mkdir, "is a folder"),
    # /dev/null, not /dev/zero: the same refusal (a device is never read), and a regression here
    # reads nothing instead of filling the memory
    "device": (lambda p: os.symlink("/dev/null", p), "is a device, not a file: left out"),
    "broken": (lambda p: os.symlink(p.parent / "nowhere", p), "is gone (or a link to nothing)"),
    "huge": (_huge, "is 16 MB, more than the 16 MB exercise files may have: left out"),  # vote files: 256 MB
}


@pytest.mark.timeout(30)  # a pipe read would block for ever: fail, do not stall
@pytest.mark.parametrize("kind", SPECIAL)
def test_a_special_file_in_a_hand_in_folder_is_left_out_with_a_note(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "class"
    _hand_in(folder, "ada")
    make, note = SPECIAL[kind]
    make(folder / f"{kind}.json")
    os.symlink(folder / "ada.json", tmp_path / "ada-link.json")  # a link to a real file is read

    table = nbllm.class_results([folder, tmp_path / "ada-link.json"]).set_index("file")
    assert len(table) == 2  # the link to ada's file is her file, counted once
    assert table.loc["ada.json", "passed"] and table.loc["ada.json", "attempts"] == 1
    assert table.loc["ada.json", "note"] == ""
    assert table.loc[f"{kind}.json", "note"].startswith(f"could not read: {folder / kind}.json {note}")

    votes = tmp_path / "votes"
    votes.mkdir()
    shutil.copy(_arena(tmp_path / "mine.sqlite3", vote=True).store.path, votes / "ada.sqlite3")
    make(votes / f"{kind}.sqlite3")
    pooled = nbllm.Arena.pooled(votes)
    assert pooled.votes == 1 and len(pooled.left_out) == 1
    note = note.replace("16 MB", "256 MB").replace("exercise", "vote")
    assert pooled.left_out[0].startswith(f"{votes / kind}.sqlite3 {note}")


def test_a_damaged_exercise_file_is_its_own_row_naming_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    good = json.loads(_hand_in(folder, "ada").read_text())

    def damaged(student: str, change) -> None:
        doc = json.loads(json.dumps(good))
        doc["student"] = student
        change(doc)
        (folder / f"{student}.json").write_text(json.dumps(doc))

    damaged("settings", lambda d: d["attempts"][0].update(settings="temperature=2"))
    damaged("uid", lambda d: d["attempts"][0].update(uid=["a", "b"]))
    damaged("timestamp", lambda d: d["attempts"][0].update(timestamp=1767607200))
    damaged("rules", lambda d: d.update(exercise="france"))
    damaged("future", lambda d: d.update(version=99))
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "half.json").write_text(json.dumps(good)[:100])
    _hand_in(folder, "bob")

    table = nbllm.class_results(folder).set_index("file")
    for whole in ("ada.json", "bob.json"):  # the others' rows are intact
        assert table.loc[whole, "passed"] and table.loc[whole, "best"] == "1 of 1 answers pass (1 needed)"
    notes = table["note"].to_dict()
    assert "settings.json is a damaged exercise file (attempts.0.settings:" in notes["settings.json"]
    assert "(attempts.0.uid:" in notes["uid.json"]
    assert "(attempts.0.timestamp:" in notes["timestamp.json"]
    assert "(exercise:" in notes["rules.json"]
    assert "written by a newer nbllm" in notes["future.json"]
    assert "not JSON" in notes["deep.json"] and "not JSON" in notes["half.json"]
    assert all(
        n.startswith("could not read: ") for f, n in notes.items() if f not in ("ada.json", "bob.json")
    )

"""Files from a class, some careless, one hostile, read safely: a named pipe, a folder, a link to
a device, a link to nothing or an oversized file in a hand-in folder is left out with a note
naming it (never read, so nothing stalls); a damaged exercise file is its own row naming the
field while the others' rows stay whole; exported vote files read in a folder the reader may
not write to; and one vote held by two files with two outcomes is named, the first one kept.
Real files, pipes, links and SQLite files throughout; no model runs (scripted answers)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import nbllm
from nbllm.errors import InvalidParameterError, NBLLMWarning
from nbllm.notebook.arena.votes import read_votes
from nbllm.notebook.exercises import files
from nbllm.notebook.exercises.files import Attempt, Sample
from tests.scripted import ScriptedLLM

ROOT = Path(__file__).resolve().parents[2]


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


def test_an_attempt_two_files_tell_differently_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    doc = json.loads(_hand_in(folder, "ada").read_text())
    doc["attempts"][0]["samples"][0]["answer"] = "Paris, France"  # the same attempt, edited
    (folder / "ada2.json").write_text(json.dumps(doc))
    shutil.copy(folder / "ada.json", folder / "ada3.json")  # the same attempt again: no note
    row = nbllm.class_results(folder).iloc[0]
    assert row["attempts"] == 1 and row["file"] == "ada.json, ada2.json, ada3.json"
    assert row["note"] == "attempt ada-1 differs in ada.json and ada2.json: ada.json's kept"


def _wal_mode(path: Path) -> bool:
    return path.read_bytes()[18:20] == b"\x02\x02"  # SQLite's header: 2 is WAL, 1 rollback


TEACHER = """
import os, sys
import nbllm
nbllm.Arena.pooled(sys.argv[2])  # as root, once elsewhere: this python and its modules live in
# a folder only root may read, so every module the pooling needs is imported first
if os.geteuid() == 0:  # root writes anywhere: read as 'nobody', who may not write to the folder
    os.setgid(65534)
    os.setuid(65534)
pooled = nbllm.Arena.pooled(sys.argv[1])
print(pooled.votes, pooled.files)
print(*pooled.left_out, sep="\\n")
"""


@pytest.mark.timeout(120)
def test_exported_votes_pool_from_a_folder_the_teacher_cannot_write(tmp_path: Path) -> None:
    arena = _arena(tmp_path / "mine.sqlite3")
    arena.vote("A")
    arena.next()
    arena.vote("tie")
    assert _wal_mode(arena.store.path)  # the file voted into serves several kernels at once
    shared = Path(tempfile.mkdtemp())  # outside pytest's private folders, so 'nobody' can reach it
    folder = shared / "handed-in"
    try:
        exported = arena.export_votes(folder / "ada.sqlite3")
        warm = shutil.copy(exported, tmp_path / "warm-up.sqlite3")
        assert [p.name for p in folder.iterdir()] == ["ada.sqlite3"]  # no journal left beside it
        shutil.copy(arena.store.path, folder / "bob.sqlite3")  # an export by an older nbllm: WAL
        assert _wal_mode(folder / "bob.sqlite3")
        live = sqlite3.connect(arena.store.path)
        live.execute("PRAGMA wal_autocheckpoint=0")
        with live:
            live.execute("UPDATE votes SET voter = 'cy'")  # in the log only, not yet in the file
        for name in ("", "-wal"):  # a copy taken while votes wait in the log
            shutil.copy(f"{arena.store.path}{name}", folder / f"cy.sqlite3{name}")
        live.close()
        for path in [shared, folder, *folder.iterdir()]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        folder.chmod(0o555)
        exported_in_wal = _wal_mode(exported)
        done = subprocess.run([sys.executable, "-c", TEACHER, str(folder), warm], capture_output=True, text=True,
                              timeout=100, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    finally:
        for path in [shared, folder]:
            path.chmod(0o755)
        shutil.rmtree(shared)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not exported_in_wal  # exported in the mode any reader can open
    counted, *left_out = done.stdout.strip().split("\n")
    assert counted == "2 3"  # ada's and bob's files read, each vote counted once
    assert len(left_out) == 1 and "cy.sqlite3 could not be read (unable to open database file)" in left_out[0]
    assert "is not an arena's vote file" not in left_out[0]  # a read error is not a wrong file
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database, just text" * 100)
    with pytest.raises(InvalidParameterError, match="is not an arena's vote file"):
        read_votes(junk)


def test_one_vote_with_two_outcomes_in_two_files_is_named(tmp_path: Path) -> None:
    arena = _arena(tmp_path / "mine.sqlite3")
    arena.vote("A")
    winner, loser = arena.revealed.a, arena.revealed.b
    folder = tmp_path / "class"
    first = arena.export_votes(folder / "1-ada.sqlite3")
    shutil.copy(first, folder / "2-ada-copy.sqlite3")  # the same vote again: counted once, no note
    shutil.copy(first, folder / "3-ada-edited.sqlite3")
    db = sqlite3.connect(folder / "3-ada-edited.sqlite3")
    with db:
        db.execute("UPDATE votes SET winner = 'B'")  # edited by hand: the other contender won
    db.close()
    with pytest.warns(NBLLMWarning, match="held by two files with different outcomes"):
        pooled = nbllm.Arena.pooled(folder)
    assert pooled.votes == 1 and pooled.files == 3
    assert pooled.ranking.set_index("contender").loc[winner, "wins"] == 1  # the first file's vote
    assert pooled.conflicts == [
        f"vote {arena.votes()[0].uid[:12]} is in 1-ada.sqlite3 (on 'Name a colour.': {winner} won) and in "
        f"3-ada-edited.sqlite3 (on 'Name a colour.': {loser} won): the one in 1-ada.sqlite3, read first, "
        "was counted"
    ]
    assert "3-ada-edited.sqlite3" in pooled._repr_html_()

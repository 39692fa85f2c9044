"""Platform branches outside the engine, each called directly with the platform it serves:
Windows paths in magics, the I/O loop on Windows, files replaced while another program holds
them, bundle files that keep their mode and line endings, model names in any case."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

import nbllm
from nbllm.core import files
from nbllm.engine import bundle_file as bundle
from nbllm.engine import loop
from nbllm.notebook.magic import magic_words


def test_windows_paths_in_a_magic_keep_their_backslashes() -> None:
    assert magic_words(r"C:\Users\me\lesson.nbllm --compare", "nt") == [
        r"C:\Users\me\lesson.nbllm",
        "--compare",
    ]
    assert magic_words(r'"C:\My Files\l.nbllm" --fallback embedded', "nt") == [
        r"C:\My Files\l.nbllm",
        "--fallback",
        "embedded",
    ]
    assert magic_words("'a b.nbllm' --compare", "posix") == ["a b.nbllm", "--compare"]


def test_the_io_loop_on_windows_is_a_proactor_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    class Proactor(asyncio.SelectorEventLoop):  # stands in for Windows' loop on this machine
        def __init__(self) -> None:
            made.append("proactor")
            super().__init__()

    monkeypatch.setattr(asyncio, "ProactorEventLoop", Proactor, raising=False)
    windows = loop.new_loop("win32")
    linux = loop.new_loop("linux")
    try:
        assert made == ["proactor"] and isinstance(windows, Proactor) and not isinstance(linux, Proactor)
    finally:
        windows.close()
        linux.close()


def test_a_file_held_open_is_replaced_once_it_is_let_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target, source = tmp_path / "votes.nbllm", tmp_path / "new"
    target.write_text("old")
    source.write_text("new")
    real, refused = os.replace, []

    def held(a: str, b: str) -> None:
        if len(refused) < 2:
            refused.append(b)
            raise PermissionError(13, "the file is held by another process")
        real(a, b)

    monkeypatch.setattr(os, "replace", held)
    files.replace_file(source, target, waits=(0.01, 0.01, 0.01))
    assert target.read_text() == "new" and len(refused) == 2
    refused.clear()
    source.write_text("newer")
    with pytest.raises(PermissionError):
        files.replace_file(source, target, waits=(0.01,))  # held for good: the error reaches the caller


def test_every_file_written_in_place_is_synced_and_waits_for_a_held_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Bundles, exercise files and saved comparisons share one writer: each file is on disk
    (fsync) before it replaces the old one, and a replace Windows refuses is tried again."""
    from nbllm.notebook.exercises import files as exercise_files
    from tests.scripted import ScriptedLLM

    comparison = nbllm.compare(["Say hi."], params=[{"temperature": 0.1}], llm=ScriptedLLM(), progress=False)
    real_replace, real_fsync = os.replace, os.fsync
    refused: list[str] = []
    synced: list[int] = []

    def held(a: str, b: str) -> None:
        if Path(b).name not in refused:  # each target is held the first time
            refused.append(Path(b).name)
            raise PermissionError(13, "the file is held by another process")
        real_replace(a, b)

    monkeypatch.setattr(os, "replace", held)
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    bundle.save(tmp_path / "lesson.nbllm", [])
    exercise_files.write(tmp_path / "ada.json", {"format": "nbllm-exercise"})
    comparison.save(tmp_path / "monday")
    assert refused == ["lesson.nbllm", "ada.json", "monday.json"] and len(synced) == 3
    assert json.loads((tmp_path / "ada.json").read_text()) == {"format": "nbllm-exercise"}
    assert stat.S_IMODE((tmp_path / "ada.json").stat().st_mode) == 0o644  # readable by the teacher
    (tmp_path / "ada.json").chmod(0o640)
    exercise_files.write(tmp_path / "ada.json", {"format": "nbllm-exercise", "again": True})
    assert stat.S_IMODE((tmp_path / "ada.json").stat().st_mode) == 0o640  # a rewrite keeps its mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada.json", "lesson.nbllm", "monday.json"]


def test_a_saved_bundle_keeps_its_mode_and_unix_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    bundle.save(path, [])
    assert b"\r\n" not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) != 0o600  # not mkstemp's private mode
    path.chmod(0o644)
    bundle.save(path, [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # a class's shared bundle stays readable


def test_a_gguf_file_name_in_any_case_is_a_model_file() -> None:
    llm = nbllm.default_llm(model="/models/X.GGUF", cache=False)
    assert isinstance(llm, nbllm.LlamaCppLLM) and llm.model_path == "/models/X.GGUF"

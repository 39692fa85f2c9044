"""Griffe extension (mkdocstrings loads it): nbllm's public API has docstrings.

Every name exported by ``nbllm/__init__.py`` (its ``_EXPORTS``, the list ``nbllm.__all__`` is
made from) must have a docstring, and so must every public method and property of an exported
class. A missing one is logged as a warning, which fails ``mkdocs build --strict``.

Public methods that had no docstring when this check was added are listed in
``undocumented.txt`` beside this file: a new one fails the build, and a listed one that gains
a docstring must leave the list (the build says so), so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import griffe

KNOWN_GAPS = Path(__file__).with_name("undocumented.txt")


def _exports(package: griffe.Module) -> list[str]:
    """The names in ``_EXPORTS`` of nbllm/__init__.py, read from its source."""
    tree = ast.parse(Path(package.filepath).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "_EXPORTS":
            return sorted(ast.literal_eval(node.value))
    raise ValueError(f"no _EXPORTS in {package.filepath}")


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object | None:
    try:
        return obj.final_target if obj.is_alias else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


class PublicDocstrings(griffe.Extension):
    """Warns about every public name of nbllm, and public method of its classes, with no docstring."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "nbllm":
            return
        known = {line.strip() for line in KNOWN_GAPS.read_text().splitlines()}
        known.discard("")
        gaps: set[str] = set()
        methods: set[str] = set()
        for name in _exports(pkg):
            member = pkg.members.get(name)
            obj = _target(member) if member is not None else None
            if obj is None:
                griffe.logger.warning(f"nbllm.{name}: exported, but its definition cannot be found")
                continue
            if not obj.docstring:
                griffe.logger.warning(f"nbllm.{name}: public, but has no docstring ({obj.filepath})")
            if obj.is_class:
                for method, value in obj.members.items():
                    function = _target(value)
                    if method.startswith("_") or function is None or not function.is_function:
                        continue
                    methods.add(f"nbllm.{name}.{method}")
                    if not function.docstring:
                        gaps.add(f"nbllm.{name}.{method}")
        for path in sorted(gaps - known):
            griffe.logger.warning(f"{path}: public method without a docstring")
        for path in sorted(known - gaps):
            why = "has a docstring now" if path in methods else "is no public method of nbllm"
            griffe.logger.warning(f"{path} {why}: remove it from {KNOWN_GAPS}")

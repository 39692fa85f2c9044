"""Generators registered by name, each with a one-line description (what a dropdown lists).

Pure: runs on whatever thread calls it; generators register as their classes are made, at
import.
"""

from __future__ import annotations

from typing import Any

GENERATORS: dict[str, Any] = {}


def list_generators() -> dict[str, str]:
    """Every registered generator's name and one-line description, in registration order
    (the package's __init__, which runs before this module, imports the built-in ones)."""
    return {name: cls.description for name, cls in GENERATORS.items()}


def get_generator(name: str) -> Any:
    """The generator class registered under `name`."""
    from nbllm.errors import UsageError

    if name not in GENERATORS:
        raise UsageError(f"no generator named {name!r}; registered: {', '.join(GENERATORS)}.")
    return GENERATORS[name]

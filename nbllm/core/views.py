"""Views of outputs that the layers above core provide (an HTML table, a DataFrame).

Core never imports those layers: they are registered here by name, as "module:function", by
the package's top level (nbllm/__init__.py), and imported only when a view is first asked for.

Pure: runs on whatever thread calls it.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

_VIEWS: dict[str, str | Callable[..., Any]] = {}


def register_view(name: str, target: str | Callable[..., Any]) -> None:
    """Provide view `name` as a function or a "module:function" imported on first use."""
    _VIEWS[name] = target


def view(name: str, *args: Any) -> Any:
    from nbllm.errors import UsageError

    target = _VIEWS.get(name)
    if target is None:
        raise UsageError(f"no {name} view is registered; import nbllm (not only nbllm.core) to get it.")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = _VIEWS[name] = getattr(importlib.import_module(module), attr)
    return target(*args)

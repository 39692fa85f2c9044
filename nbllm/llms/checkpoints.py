"""JSON checkpoints of an LLM: its settings, parameters and conversation, never an API key
or a URL's password.

A checkpoint may come from someone else: rebuilding one imports no module that is not nbllm's
or already imported, makes only the class asked for, and takes no setting that starts a program.

Runs on the caller's thread (a small file write)."""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from nbllm.errors import NBLLMWarning, UsageError, public_url

VERSION = 1
# Where the classes of checkpoints written by earlier versions live now.
MOVED = {
    "nbllm.llms.openai_compatible": "nbllm.llms.openai.llm",
    "nbllm.llms.llamacpp": "nbllm.llms.llamacpp.llm",
    "nbllm.llms.process": "nbllm.scale.process",
}
# Settings that start a program: taken from the caller only, never from a file.
NOT_FROM_FILES = frozenset({"server_binary"})


def save(llm: Any, path: str | Path, exclude: frozenset[str]) -> Path:
    """Write `llm`'s configuration and conversation to `path` (a directory gets a file named
    after the class)."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        path = path / f"{type(llm).__name__}.json"
    config = llm.model_dump(mode="json", exclude=set(exclude))
    if isinstance(config.get("base_url"), str):
        config["base_url"] = public_url(config["base_url"], marked=False)
    config["history"] = llm.history
    record = {
        "nbllm_checkpoint": VERSION,
        "class": f"{type(llm).__module__}:{type(llm).__qualname__}",
        "config": config,
        "conversation": llm.conversation.to_dict(),
    }
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return path


def restore(llm: Any, path: str | Path) -> None:
    """Parameters, system prompt and conversation from a checkpoint, into `llm`."""
    record = read(path)
    config = record["config"]
    llm.params = type(llm.params)(**config.get("params", {}))
    llm.system_prompt = config.get("system_prompt")
    if "conversation" in record:
        llm.conversation.restore(record["conversation"])
    else:
        llm.history = config.get("history", [])


def rebuild(path: str | Path, base: type, asked: type, overrides: dict[str, Any]) -> Any:
    """A new LLM of the saved class and configuration: an nbllm LLM (a subclass of `base`) that
    is an `asked` (the class whose from_checkpoint was called)."""
    record = read(path)
    module, _, name = str(record["class"]).partition(":")
    module = MOVED.get(module, module)
    if module.split(".")[0] != "nbllm" and module not in sys.modules:  # importing it would run it
        raise UsageError(
            f"checkpoint names {record['class']}, which is not an nbllm LLM nor a class of this "
            "program; import its module first if you trust it."
        )
    try:
        target = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise UsageError(f"checkpoint names {record['class']}, which this nbllm does not have.") from None
    if not (isinstance(target, type) and issubclass(target, base)):
        raise UsageError(f"checkpoint names {record['class']}, which is not an nbllm LLM.")
    if not issubclass(target, asked):
        raise UsageError(
            f"{str(path)!r} is a checkpoint of a {target.__name__}, not of a {asked.__name__}: use "
            f"{target.__name__}.from_checkpoint, or nbllm.LLM.from_checkpoint for any class."
        )
    config = {k: v for k, v in record["config"].items() if k not in NOT_FROM_FILES}
    ignored = sorted(k for k in NOT_FROM_FILES if record["config"].get(k) is not None and k not in overrides)
    if ignored:
        warnings.warn(
            f"the checkpoint's {', '.join(ignored)} was not used: a setting that starts a program "
            "is never taken from a file; pass it again (e.g. from_checkpoint(path, server_binary=...)).",
            NBLLMWarning,
            stacklevel=3,
        )
    llm = target(**{**config, **overrides})
    if "conversation" in record:
        llm.conversation.restore(record["conversation"])
    return llm


def read(path: str | Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc
    if (
        not isinstance(record, dict)
        or record.get("nbllm_checkpoint") != VERSION
        or not isinstance(record.get("config"), dict)
    ):
        raise UsageError(f"{str(path)!r} is not an nbllm checkpoint.")
    return record

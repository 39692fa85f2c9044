"""JSON checkpoints of an LLM: its settings, parameters and conversation, never an API key
or a URL's password.

Runs on the caller's thread (a small file write)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from nbllm.errors import UsageError, public_url

VERSION = 1
# Where the classes of checkpoints written by earlier versions live now.
MOVED = {
    "nbllm.llms.openai_compatible": "nbllm.llms.openai.llm",
    "nbllm.llms.llamacpp": "nbllm.llms.llamacpp.llm",
    "nbllm.llms.process": "nbllm.scale.process",
}


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


def rebuild(path: str | Path, base: type, overrides: dict[str, Any]) -> Any:
    """A new LLM of the saved class and configuration; `base` is the class it must derive from."""
    record = read(path)
    module, _, name = record["class"].partition(":")
    module = MOVED.get(module, module)
    try:
        target = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise UsageError(f"checkpoint names {record['class']}, which this nbllm does not have.") from None
    if not (isinstance(target, type) and issubclass(target, base)):
        raise UsageError(f"checkpoint names {record['class']}, which is not an nbllm LLM.")
    llm = target(**{**record["config"], **overrides})
    if "conversation" in record:
        llm.conversation.restore(record["conversation"])
    return llm


def read(path: str | Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc
    if not isinstance(record, dict) or record.get("nbllm_checkpoint") != VERSION:
        raise UsageError(f"{str(path)!r} is not an nbllm checkpoint.")
    return record

"""The conveniences of the BaseLLM interface, written once (async) on top of generate.

run/arun, batch_run/abatch_run, ``llm("task")``, chat with an editable history, presets,
summaries, JSON checkpoints (never with an API key) and event logging to a file.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nbllm.engine import loop
from nbllm.errors import InvalidInputError, UsageError

if TYPE_CHECKING:
    from nbllm.core.outputs import GenerateOutput
    from nbllm.llms.base import LLM

SUMMARY_PROMPT = "Summarize the following text in two or three sentences.\n\nText:\n{text}"


class ConveniencesMixin:
    """Methods every LLM gets; they only call ``agenerate_many``."""

    checkpoint_exclude: ClassVar[frozenset[str]] = frozenset({"prompt_formatting_fn"})

    # -- single answers ------------------------------------------------------------------
    async def arun(self: LLM, task: Any, **options: Any) -> str:
        """The text of one generation for `task`; raises the error if it failed."""
        (output,) = await loop.run_async(self.agenerate_many([task], 1, **options))
        return _first_text(output)

    def run(self: LLM, task: Any, **options: Any) -> str:
        return loop.run_sync(self.arun(task, **options))

    def __call__(self: LLM, task: Any, **options: Any) -> str:
        return self.run(task, **options)

    async def abatch_run(self: LLM, tasks: list[Any], **options: Any) -> list[str | None]:
        """One text per task, in order (None where a task failed: see ``generate`` for errors)."""
        outputs = await loop.run_async(self.agenerate_many(list(tasks), 1, **options))
        return [o.generations[0].text for o in outputs]

    def batch_run(self: LLM, tasks: list[Any], **options: Any) -> list[str | None]:
        return loop.run_sync(self.abatch_run(tasks, **options))

    # -- chat -------------------------------------------------------------------------------
    async def achat(self: LLM, message: str, history: Any = None, **options: Any) -> str:
        """Send `message` after the history; the reply is appended to ``history``.

        ``history`` (the BaseLLM interface's argument) replaces ``self.history`` for this turn:
        a list of chat messages, or a transcript as text (sent as context in a system message).
        """
        if not isinstance(message, str) or not message.strip():
            raise InvalidInputError("chat message must be a non-empty string.")
        if history is None:
            before = list(self.history)
        elif isinstance(history, str):
            before = (
                [{"role": "system", "content": f"The conversation so far:\n{history}"}]
                if history.strip()
                else []
            )
        else:
            from nbllm.core.messages import to_messages

            before = [dict(m) for m in to_messages(list(history), None, "history")] if history else []
        conversation = [*before, {"role": "user", "content": message}]
        (output,) = await loop.run_async(self.agenerate_many([conversation], 1, **options))
        reply = _first_text(output)
        self.history = [*conversation, {"role": "assistant", "content": reply}]
        return reply

    def chat(self: LLM, message: str, history: Any = None, **options: Any) -> str:
        return loop.run_sync(self.achat(message, history, **options))

    def clear_history(self: LLM) -> None:
        self.history = []

    # -- presets and summaries --------------------------------------------------------------
    def use_preset(self: LLM, name: str) -> LLM:
        """Apply a named parameter preset ("precise", "balanced", "creative", "deterministic")."""
        self.params.apply_preset(name)
        return self

    async def agenerate_summary(self: LLM, text: str, **options: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("generate_summary needs a non-empty text.")
        return await self.arun(SUMMARY_PROMPT.format(text=text), **options)

    def generate_summary(self: LLM, text: str, **options: Any) -> str:
        return loop.run_sync(self.agenerate_summary(text, **options))

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self: LLM, path: str | Path) -> Path:
        """Write configuration, parameters and history as JSON (never an API key)."""
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path.mkdir(parents=True, exist_ok=True)
            path = path / f"{type(self).__name__}.json"
        config = self.model_dump(mode="json", exclude=set(self.checkpoint_exclude))
        record = {
            "nbllm_checkpoint": 1,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": config,
        }
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")
        return path

    def load_checkpoint(self: LLM, path: str | Path) -> LLM:
        """Restore parameters, system prompt and history from a checkpoint into this LLM."""
        config = _read_checkpoint(path)["config"]
        self.params = type(self.params)(**config.get("params", {}))
        self.system_prompt = config.get("system_prompt")
        self.history = config.get("history", [])
        return self

    @classmethod
    def from_checkpoint(cls, path: str | Path, **overrides: Any) -> LLM:
        """A new LLM of the saved class and configuration (pass secrets like api_key again)."""
        from nbllm.llms.base import LLM

        record = _read_checkpoint(path)
        module, _, name = record["class"].partition(":")
        target = getattr(importlib.import_module(module), name)
        if not (isinstance(target, type) and issubclass(target, LLM)):
            raise UsageError(f"checkpoint names {record['class']}, which is not an nbllm LLM.")
        return target(**{**record["config"], **overrides})

    # -- logging ---------------------------------------------------------------------------------
    def enable_logging(self: LLM, log_file: str | Path = "nbllm.log") -> None:
        """Append every generation and event to `log_file` as JSON lines."""
        self.engine.log.enable_file(str(log_file))

    def log_event(self: LLM, message: str, **fields: Any) -> None:
        self.engine.log.event(message, model=self.model_name, **fields)


def _first_text(output: GenerateOutput) -> str:
    output.raise_for_errors()
    text = output.generations[0].text
    assert text is not None
    return text


def _read_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc
    if not isinstance(record, dict) or record.get("nbllm_checkpoint") != 1:
        raise UsageError(f"{str(path)!r} is not an nbllm checkpoint.")
    return record

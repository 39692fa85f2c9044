"""Scorers for ``nbllm.compare(..., scorers={...})``: ``nbllm.scorers.contains("Paris")`` and the
rest (the notebook layer holds them; this is their public name). Importing it starts no thread."""

from nbllm.notebook.compare.scorers import (
    Scorer,
    contains,
    equals,
    json_schema,
    judge,
    reference,
    regex,
    valid_json,
)

__all__ = ["Scorer", "contains", "equals", "json_schema", "judge", "reference", "regex", "valid_json"]

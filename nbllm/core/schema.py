"""Structured output: a pydantic model or a JSON schema, and parsing answers into it.

Pure: runs on whatever thread calls it (schemas are checked on the caller's thread, answers
parsed on the I/O loop).
"""

from __future__ import annotations

import json
import re
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from nbllm.errors import InvalidParameterError, ParseError

OutputSchema = Union[type[BaseModel], dict[str, Any]]

_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def schema_dict(schema: OutputSchema) -> dict[str, Any]:
    """The JSON schema for a pydantic model class or a schema dict."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, dict):
        return schema
    raise InvalidParameterError(
        "structured_output must be a pydantic model class or a JSON schema dict, "
        f"not {type(schema).__name__}.",
        "structured_output",
    )


def schema_name(schema: OutputSchema) -> str:
    if isinstance(schema, type):
        return schema.__name__
    return str(schema.get("title", "output"))


def parse_json_answer(text: str, schema: OutputSchema) -> Any:
    """Parse an answer into the schema: a model instance, or a checked dict."""
    data = _load_json(text)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            raise ParseError(
                f"answer does not fit {schema.__name__}: {exc.errors()[0]['msg']}", text
            ) from None
    _check(data, schema, "answer")
    return data


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    # Models often wrap JSON in prose or a ``` fence: take the outermost object.
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            return json.loads(match.group(0))
        except json.JSONDecodeError:
            pass
    raise ParseError(f"answer is not valid JSON: {text[:80]!r}", text)


def _check(data: Any, schema: dict[str, Any], where: str) -> None:
    expected = schema.get("type")
    if isinstance(expected, str) and expected in _TYPES:
        ok = isinstance(data, _TYPES[expected]) and not (
            expected in ("integer", "number") and isinstance(data, bool)
        )
        if not ok:
            raise ParseError(f"{where} should be of type {expected}, got {type(data).__name__}", str(data))
    if isinstance(data, dict):
        for key in schema.get("required", []):
            if key not in data:
                raise ParseError(f"{where} is missing required field {key!r}", json.dumps(data))
        for key, sub in schema.get("properties", {}).items():
            if key in data and isinstance(sub, dict):
                _check(data[key], sub, f"{where}.{key}")
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(data):
            _check(item, schema["items"], f"{where}[{i}]")

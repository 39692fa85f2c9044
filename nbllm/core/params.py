"""Generation parameters: one validated object instead of a setter per field.

Pure: runs on whatever thread calls it; observers are called on the thread that assigns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from nbllm.errors import InvalidParameterError

PRESETS: dict[str, dict[str, Any]] = {
    "precise": {"temperature": 0.1, "top_p": 0.5},
    "balanced": {"temperature": 0.7, "top_p": 0.9},
    "creative": {"temperature": 1.1, "top_p": 0.98},
    "deterministic": {"temperature": 0.0},
}
"""Named sets of sampling parameters: ``params.apply_preset("creative")`` applies one."""

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
"""How much a reasoning model thinks before it answers, least first (which a model takes differs)."""
VERBOSITIES = ("low", "medium", "high")

# Other names of a parameter, as APIs spell it: OpenAI's reasoning models call max_tokens so.
ALIASES = {"max_completion_tokens": "max_tokens"}
# extra_body carries a server's own options; what nbllm sends itself, or what would carry a
# secret, cannot be set through it.
_BODY_OWNED = frozenset({"model", "messages", "prompt", "n", "stream", "stream_options"})
_SECRET_WORDS = ("key", "token_secret", "secret", "password", "authorization", "header", "cookie")


class GenerationParams(BaseModel):
    """Sampling settings; a field left as None means "the backend's default".

    Assignment is validated: ``params.temperature = 5`` raises InvalidParameterError
    naming the field and its allowed range.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid", strict=True)

    _observers: list[Callable[[str, Any], None]] = PrivateAttr(default_factory=list)

    temperature: Optional[float] = Field(None, ge=0.0, le=2.0)
    top_p: Optional[float] = Field(None, ge=0.0, le=1.0)
    top_k: Optional[int] = Field(None, ge=0)
    min_p: Optional[float] = Field(None, ge=0.0, le=1.0)
    max_tokens: Optional[int] = Field(None, ge=1, le=131072)
    seed: Optional[int] = Field(None, ge=0, lt=2**32)
    stop: Optional[Union[str, list[str]]] = None
    frequency_penalty: Optional[float] = Field(None, ge=-2.0, le=2.0)
    presence_penalty: Optional[float] = Field(None, ge=-2.0, le=2.0)
    repetition_penalty: Optional[float] = Field(None, gt=0.0, le=10.0)
    reasoning_effort: Optional[Literal["none", "minimal", "low", "medium", "high", "xhigh"]] = None
    verbosity: Optional[Literal["low", "medium", "high"]] = None
    extra_body: Optional[dict[str, Any]] = Field(
        None,
        description="A server's own options, merged into the request body as they are (e.g. "
        "{'chat_template_kwargs': {'enable_thinking': False}} for Qwen3 on vLLM).",
    )

    def __init__(self, **data: Any) -> None:
        data = _unaliased(data)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _friendly(exc, data) from None

    def __setattr__(self, name: str, value: Any) -> None:
        name = ALIASES.get(name, name)
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _friendly(exc, {name: value}) from None
        if not name.startswith("_"):
            for callback in list(self._observers):
                callback(name, value)

    def observe(self, callback: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``callback(field, value)`` after each assignment; returns an unsubscribe function."""
        self._observers.append(callback)
        return lambda: callback in self._observers and self._observers.remove(callback)

    @field_validator("extra_body")
    @classmethod
    def _json_body(cls, value: Any) -> Any:
        if value is None:
            return value
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra_body must hold only JSON values ({exc})") from None
        for key in value:
            problem = _body_key_problem(key)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("stop")
    @classmethod
    def _stop_strings(cls, value: Any) -> Any:
        if isinstance(value, list) and not all(isinstance(s, str) and s for s in value):
            raise ValueError("stop must be a non-empty string or a list of non-empty strings")
        if value == "":
            raise ValueError("stop must not be empty")
        return value

    def set_values(self) -> dict[str, Any]:
        """The fields that are set (not None), for merging over defaults."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def update(self, **values: Any) -> GenerationParams:
        """Set several fields at once, validating each; returns self."""
        for key, value in _unaliased(values).items():
            if key not in type(self).model_fields:
                raise _unknown(key)
            setattr(self, key, value)
        return self

    def apply_preset(self, name: str) -> GenerationParams:
        """Apply a named preset ("precise", "balanced", "creative", "deterministic")."""
        if name not in PRESETS:
            raise InvalidParameterError(
                f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}.", "preset"
            )
        return self.update(**PRESETS[name])

    @classmethod
    def merge(cls, *layers: dict[str, Any]) -> GenerationParams:
        """Later layers win; every value is validated."""
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in _unaliased(layer).items():
                if key not in cls.model_fields:
                    raise _unknown(key)
                if value is not None:
                    merged[key] = value
        return cls(**merged)


@dataclass(frozen=True)
class ParameterSupport:
    """What a model takes, for controls that offer only that: the parameters it refuses (with
    why) and the reasoning_effort values it takes (None: it has no such dial, or it is not known)."""

    refused: dict[str, str] = field(default_factory=dict)
    efforts: tuple[str, ...] | None = None


def _unaliased(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each alias under its parameter's name (both given and different: an error)."""
    if not any(alias in data for alias in ALIASES):
        return data
    data = dict(data)
    for alias, name in ALIASES.items():
        if alias in data:
            value = data.pop(alias)
            if data.get(name) is not None and value is not None and data[name] != value:
                raise InvalidParameterError(
                    f"{alias}={value!r} and {name}={data[name]!r} name one setting; give one of them.", alias
                )
            data[name] = value if value is not None else data.get(name)
    return data


def _body_key_problem(key: Any) -> str:
    """Why `key` may not be set through extra_body ('' when it may)."""
    if not isinstance(key, str):
        return f"extra_body's keys must be strings, not {key!r}"
    lowered = key.lower()
    if any(word in lowered for word in _SECRET_WORDS):
        return (
            f"extra_body may not hold {key!r}: keys and headers never travel in the body nbllm "
            "records; give the key as the LLM's api_key"
        )
    if key in GenerationParams.model_fields or key in ALIASES:
        return f"extra_body may not set {key!r}: pass it as the generation parameter {ALIASES.get(key, key)}="
    if key in _BODY_OWNED:
        return f"extra_body may not set {key!r}: nbllm writes it from the call itself"
    return ""


def _unknown(key: str) -> InvalidParameterError:
    known = ", ".join(GenerationParams.model_fields)
    return InvalidParameterError(f"unknown generation parameter {key!r}; known: {known}.", key)


def _friendly(exc: ValidationError, data: dict[str, Any]) -> InvalidParameterError:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    if err["type"] == "extra_forbidden":
        return _unknown(field)
    reason = _allowed(field) or str(err["msg"]).removeprefix("Value error, ")
    if field == "extra_body":  # its values are the server's business, and may hold a secret
        return InvalidParameterError(f"extra_body is invalid: {reason}.", field)
    value = data.get(field, err.get("input"))
    return InvalidParameterError(f"{field}={value!r} is invalid: {reason}.", field)


def _allowed(field: str) -> str:
    info = GenerationParams.model_fields.get(field)
    if info is None:
        return ""
    bounds = {
        type(m).__name__: getattr(m, type(m).__name__.lower())
        for m in info.metadata
        if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")
    }
    low = f">= {bounds['Ge']}" if "Ge" in bounds else f"> {bounds['Gt']}" if "Gt" in bounds else ""
    high = f"<= {bounds['Le']}" if "Le" in bounds else f"< {bounds['Lt']}" if "Lt" in bounds else ""
    kind = "an integer" if "int" in str(info.annotation) else "a number"
    if field == "stop":
        return "stop must be a non-empty string or a list of non-empty strings"
    if field == "reasoning_effort":
        return f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}"
    if field == "verbosity":
        return f"verbosity must be one of {', '.join(VERBOSITIES)}"
    if field == "extra_body":
        return ""
    return f"{field} must be {kind} " + " and ".join(x for x in (low, high) if x)

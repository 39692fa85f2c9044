"""What an LLM is configured with: the names it accepts, what it refuses, and the limits of one
call. Checked on the caller's thread, before anything is scheduled."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Callable, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nbllm.core.formats import resolve_prompt_format
from nbllm.core.params import ALIASES, GenerationParams
from nbllm.engine.budget import Budget
from nbllm.errors import InvalidParameterError, UnsupportedParameterError

COMMON_PARAMS = frozenset(
    {"temperature", "top_p", "max_tokens", "seed", "stop", "frequency_penalty", "presence_penalty"}
)
# Constructor arguments of the BaseLLM interface nbllm cannot honour, with what to do instead.
UNSUPPORTED_ARGUMENTS = {
    "beam_width": "nbllm samples; it does not run beam search",
    "num_beams": "nbllm samples; it does not run beam search",
    "length_penalty": "it only applies to beam search",
    "early_stopping": "it only applies to beam search",
    "do_sample": "set temperature=0 for greedy decoding",
    "num_return_sequences": "pass num_generations= to generate",
    "max_length": "use max_tokens (it counts only generated tokens)",
    "role": "messages carry their own roles",
    "device": "llama.cpp here runs on the CPU; an endpoint decides its own devices",
    "pad_token_id": "the backend's tokenizer decides it",
    "eos_token_id": "use stop= for strings that end a generation",
    "bos_token_id": "the backend's tokenizer decides it",
}
ARGUMENT_ALIASES = {"stop_token": "stop", "repition_penalty": "repetition_penalty"}

# Samples one call may ask for: per input, and in all (each pending sample holds a little memory).
MAX_NUM_GENERATIONS = 1024
MAX_SAMPLES_PER_CALL = 250_000


class LLMSettings(BaseModel):
    """What every LLM is configured with, validated on assignment too (a bad value raises an
    error naming the field and changes nothing)."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, validate_assignment=True, extra="forbid", protected_namespaces=()
    )

    params: GenerationParams = Field(default_factory=GenerationParams)
    system_prompt: Optional[str] = None
    prompt_format: Optional[str] = None
    prompt_formatting_fn: Optional[Callable[..., str]] = Field(None, exclude=True)
    concurrency: int = Field(8, ge=1, description="Requests in flight at once (distilabel's num_threads).")
    cache: bool = Field(default_factory=lambda: os.environ.get("NBLLM_CACHE", "1") != "0")
    cache_path: Optional[str] = None
    max_retries: int = Field(3, ge=0, description="Retries of a transient failure (429, 5xx, timeouts).")
    timeout: Optional[float] = Field(None, gt=0, description="Seconds one request may take.")
    max_retry_after: float = Field(
        60.0,
        ge=0,
        description="Longest Retry-After (seconds) a server may ask for; a longer wait is replaced by "
        "backoff with jitter (a proxy that always says 60 s would otherwise stall a notebook).",
    )
    requests_per_minute: Optional[float] = Field(None, gt=0)
    tokens_per_minute: Optional[float] = Field(None, gt=0)
    budget: Optional[Any] = Field(
        None, exclude=True, description="A Budget: prices and an optional cost ceiling."
    )
    max_input_chars: Optional[int] = Field(
        None,
        ge=1,
        description="Longest prompt accepted, in characters (default: 8 per token of the model's "
        "context where it states one, else 4,000,000).",
    )

    def model_copy(self, *, update: Optional[Mapping[str, Any]] = None, deep: bool = False) -> Any:
        """A separate LLM with `update` applied and validated as the constructor validates them
        (generation parameters by name too). It has its own parameters, engine, listeners and a
        copy of the history, so a change to one never reaches the other; a budget stays shared,
        as one ceiling over both. `deep` is pydantic's argument: every copy is this separate."""
        fields: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        fields["params"] = self.params.model_dump(exclude_none=True)
        history = getattr(self, "history", None)
        if history:
            fields["history"] = [dict(message) for message in history]
        return type(self)(**{**fields, **dict(update or {})})

    @field_validator("budget")
    @classmethod
    def _is_budget(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Budget):
            raise ValueError("budget must be an nbllm.Budget")
        return value

    @field_validator("prompt_format")
    @classmethod
    def _known_format(cls, value: Optional[str]) -> Optional[str]:
        resolve_prompt_format(value, None)
        return value


def constructor_arguments(owner: str, data: dict[str, Any]) -> dict[str, Any]:
    """The BaseLLM interface's constructor arguments as nbllm's settings: generation parameters
    gathered into ``params``, aliases renamed, arguments nbllm cannot honour refused by name."""
    data = dict(data)
    if "num_threads" in data:
        data["concurrency"] = data.pop("num_threads")
    unsupported = sorted(k for k in data if k in UNSUPPORTED_ARGUMENTS)
    if unsupported:
        reasons = "; ".join(f"{k}: {UNSUPPORTED_ARGUMENTS[k]}" for k in unsupported)
        raise UnsupportedParameterError(
            f"{owner} cannot honour {', '.join(unsupported)} ({reasons}).", unsupported[0]
        )
    for alias, name in ARGUMENT_ALIASES.items():
        if alias in data:
            data[name] = data.pop(alias)
    given = data.get("params")
    params = given.model_dump(exclude_none=True) if isinstance(given, GenerationParams) else dict(given or {})
    params.update({k: data.pop(k) for k in list(data) if k in GenerationParams.model_fields or k in ALIASES})
    if params or given is not None:
        data["params"] = GenerationParams(**params)
    return data


def check_num_generations(num_generations: Any) -> None:
    if not isinstance(num_generations, int) or isinstance(num_generations, bool) or num_generations < 1:
        raise InvalidParameterError(
            f"num_generations={num_generations!r} is invalid: it must be an integer >= 1.", "num_generations"
        )
    if num_generations > MAX_NUM_GENERATIONS:
        raise InvalidParameterError(
            f"num_generations={num_generations:,} is more than the {MAX_NUM_GENERATIONS} samples nbllm "
            "generates for one input; ask for fewer, or run the call again with fresh=True for more.",
            "num_generations",
        )


def check_call_size(inputs: int, num_generations: int) -> None:
    if inputs * num_generations > MAX_SAMPLES_PER_CALL:
        raise InvalidParameterError(
            f"{inputs:,} inputs x {num_generations} generations is more than the "
            f"{MAX_SAMPLES_PER_CALL:,} samples one call takes; split the inputs into chunks.",
            "num_generations",
        )


def config_error(owner: str, exc: ValidationError) -> InvalidParameterError:
    """A pydantic error on an LLM's configuration, as nbllm's error naming the field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "?"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"{owner} has no setting {field!r}"
    return InvalidParameterError(f"{owner}.{field}: {message} (got {err.get('input')!r:.80})", field)

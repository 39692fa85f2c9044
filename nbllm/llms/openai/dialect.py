"""What a model takes: the parameters OpenAI documents for its models by name, and what an
endpoint's refusals taught nbllm, so a request a model would refuse fails before it is sent.

OpenAI's reasoning models (o-series, the gpt-5 family) refuse ``max_tokens`` ("Use
'max_completion_tokens' instead"), any ``temperature`` or ``top_p`` but 1, and each takes its
own ``reasoning_effort`` values. Known by name, these are applied before the first request;
for any other endpoint the first refusal is read, remembered per endpoint and model (see
``capabilities``), and said before the next request. A refused ``max_tokens`` is the one
refusal nbllm repairs by itself: the bound is the same, only its name differs.

Pure, but for the table of what was learnt (capabilities.py guards it): runs on the caller's
thread (``check``) and on the I/O loop (``body_params``, ``learn``).
"""

from __future__ import annotations

import re
from typing import Any

from nbllm.core.params import ParameterSupport
from nbllm.errors import NBLLMError, UnsupportedParameterError, public_url
from nbllm.llms.openai.capabilities import EndpointCapabilities, first_line
from nbllm.llms.openai.models import (
    SAMPLING_PARAMS,
    is_reasoning_model,
    known_efforts,
    takes_sampling_with_effort_none,
)

MAX_COMPLETION_TOKENS = "max_completion_tokens"
# What nbllm writes into a body itself and finds out about by other means (n, structured output,
# stream options): a refusal of one of these is not a refusal of the user's parameter.
_MANAGED = frozenset({"model", "messages", "prompt", "n", "stream", "stream_options", "response_format"})
_UNSUPPORTED = re.compile(r"unsupported (?:parameter|value):\s*'([a-z_]+)'", re.IGNORECASE)
_USE_INSTEAD = re.compile(r"use '([a-z_]+)' instead", re.IGNORECASE)
_SUPPORTED_VALUES = re.compile(r"supported values are:?\s*(.+)", re.IGNORECASE)
_QUOTED = re.compile(r"'([^']+)'")


def max_tokens_field(model: str, endpoint: EndpointCapabilities) -> str:
    """The name this model's endpoint takes for the output bound."""
    if endpoint.max_tokens_field:
        return endpoint.max_tokens_field
    return MAX_COMPLETION_TOKENS if is_reasoning_model(model) else "max_tokens"


def efforts(model: str, endpoint: EndpointCapabilities) -> tuple[str, ...] | None:
    """The reasoning_effort values the model takes (None: not known, any is sent)."""
    return endpoint.efforts or known_efforts(model)


def refused(model: str, params: dict[str, Any], endpoint: EndpointCapabilities) -> dict[str, str]:
    """Each parameter in `params` the model is known to refuse, with why."""
    problems: dict[str, str] = {}
    effort = params.get("reasoning_effort")
    takes = efforts(model, endpoint)
    if effort is not None and takes is not None and effort not in takes:
        problems["reasoning_effort"] = f"it takes reasoning_effort {', '.join(takes)}"
    samples_at_none = takes_sampling_with_effort_none(model)
    if samples_at_none and effort is None:
        effort = "none"  # these models' default effort
    if is_reasoning_model(model) and not (effort == "none" and samples_at_none):
        for name in SAMPLING_PARAMS:
            if params.get(name) not in (None, 1, 1.0):
                at_none = "; with reasoning_effort='none' it takes any" if samples_at_none else ""
                problems[name] = (
                    f"a reasoning model samples at its own settings (only the default, 1, is taken{at_none})"
                )
    for name, words in endpoint.refused_params.items():
        if name in SAMPLING_PARAMS and params.get(name) in (1, 1.0):
            continue  # what reasoning models refuse is any value but the default
        if name in params and name not in problems:
            problems[name] = f"the server refused it: {words}"
    return problems


def support(model: str, params: dict[str, Any], endpoint: EndpointCapabilities) -> ParameterSupport:
    """What the model takes, for controls: every sampling parameter it refuses (whatever value
    `params` has), and its effort values where it is a reasoning model or the server named them."""
    probe = {**params, **{name: 0.5 for name in SAMPLING_PARAMS}}
    problems = {k: v for k, v in refused(model, probe, endpoint).items() if k != "reasoning_effort"}
    problems.update({k: f"the server refused it: {v}" for k, v in endpoint.refused_params.items()})
    takes = efforts(model, endpoint) if is_reasoning_model(model) or endpoint.efforts else None
    return ParameterSupport(problems, takes)


def check(model: str, params: dict[str, Any], endpoint: EndpointCapabilities) -> None:
    """Refuse, before any request, a parameter the model is known not to take."""
    problems = refused(model, params, endpoint)
    if problems:
        name = sorted(problems)[0]
        said = "; ".join(f"{k}={params[k]!r}: {why}" for k, why in sorted(problems.items()))
        raise UnsupportedParameterError(
            f"{model} does not take {said}. Leave {' and '.join(sorted(problems))} out for this model "
            "(compare() can vary reasoning_effort instead).",
            name,
        )


def body_params(model: str, params: dict[str, Any], endpoint: EndpointCapabilities) -> dict[str, Any]:
    """The request body's parameters for this model: the output bound under the name it takes,
    a server's own options (extra_body) merged in."""
    body = {k: v for k, v in params.items() if k != "extra_body"}
    if "max_tokens" in body:
        field = max_tokens_field(model, endpoint)
        if field != "max_tokens":
            body[field] = body.pop("max_tokens")
    body.update(params.get("extra_body") or {})
    return body


def refused_error(model: str, where: str, learnt: tuple[str, str], error: NBLLMError) -> NBLLMError:
    """The error for a request refused for one of its parameters: which, and that the next
    request with it fails before it is sent."""
    name = learnt[0].removeprefix("refuses ")
    return UnsupportedParameterError(
        f"{model} at {public_url(where)} refused {name}: {error.message} nbllm remembers this, "
        f"and refuses {name} for this model before the next request.",
        name,
    )


def learn(refusal: str, sent: dict[str, Any], endpoint: EndpointCapabilities) -> tuple[str, str] | None:
    """Read a refusal of a parameter the request carried: remember it, and return (parameter,
    what was learnt), or None when the refusal names none of them. A refused max_tokens with a
    name to use instead is remembered as that name."""
    match = _UNSUPPORTED.search(refusal)
    if match is None:
        return None
    name = match.group(1)
    if name not in sent or name in _MANAGED:
        return None
    instead = _USE_INSTEAD.search(refusal)
    if name == "max_tokens" and instead is not None:
        endpoint.max_tokens_field = instead.group(1)
        return "max_tokens_field", f"max_tokens refused: {first_line(refusal)}"
    if name == "reasoning_effort":
        values = _SUPPORTED_VALUES.search(refusal)
        named = tuple(_QUOTED.findall(values.group(1))) if values else ()
        if named:
            endpoint.efforts = named
            return "reasoning_effort", f"the server takes {', '.join(named)}"
    endpoint.refused_params[name] = first_line(refusal)
    return f"refuses {name}", first_line(refusal)

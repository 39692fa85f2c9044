"""Property-based: every invalid message, parameter or job input gets an nbllm error with a
helpful message, never a raw traceback from deep inside, and no request is sent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbllm
from nbllm import NBLLMError, UsageError
from nbllm.core.params import GenerationParams
from nbllm.generators import AsyncGenerator, Job
from tests.scripted import ScriptedLLM

LLM = ScriptedLLM(cache=False)
JOB = Job(instruction="i", template="{a} and {b}")

anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
roles = st.sampled_from(["user", "assistant", "system", "robot", "", "USER", "tool"])
messages = st.lists(
    st.dictionaries(
        st.sampled_from(["role", "content", "name", "extra"]),
        roles | st.text(max_size=5) | st.integers() | st.none(),
        max_size=4,
    ),
    max_size=3,
)
param_names = st.sampled_from([*GenerationParams.model_fields, "temprature", "beam_width", "n", ""])
param_values = (
    st.none()
    | st.integers(-5, 10**6)
    | st.floats(-10, 10)
    | st.just(float("nan"))
    | st.just(float("inf"))
    | st.text(max_size=4)
    | st.lists(st.text(max_size=3), max_size=2)
)


def sends_nothing_or_fails_cleanly(call) -> None:
    before = len(LLM.requests)
    try:
        call()
    except UsageError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        assert len(LLM.requests) == before, "an invalid input reached the backend"
    except NBLLMError as exc:  # pragma: no cover - would be a bug: the input was the problem
        raise AssertionError(f"not a usage error: {exc!r}") from exc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(messages, anything))
def test_any_messages(value) -> None:
    sends_nothing_or_fails_cleanly(lambda: LLM.generate(value))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(param_names, param_values, max_size=3))
def test_any_parameters(params) -> None:
    sends_nothing_or_fails_cleanly(lambda: LLM.generate("hello", **params))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=4), max_size=3)
        | st.text(max_size=4)
        | st.integers(),
        min_size=1,
        max_size=3,
    )
)
def test_any_job_inputs(inputs) -> None:
    sends_nothing_or_fails_cleanly(lambda: AsyncGenerator(JOB, LLM).generate(inputs))


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "temperature",
                "top_p",
                "max_tokens",
                "concurrency",
                "max_retries",
                "timeout",
                "prompt_format",
                "colour",
            ]
        ),
        param_values,
        max_size=3,
    )
)
def test_any_llm_configuration(config) -> None:
    try:
        nbllm.LlamaCppLLM(**config)
    except UsageError as exc:
        assert str(exc)

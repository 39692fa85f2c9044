"""The sampler's rules on small distributions (pure logic; tests/llms/test_embedded_engine.py
checks them against the engine's own sampler)."""

from __future__ import annotations

import math

import pytest

from nbllm.core.sampling import sampling_distribution

LOGPROBS = [math.log(p) for p in (0.5, 0.3, 0.15, 0.05)]


def test_top_p_cuts_on_the_models_probabilities_before_temperature() -> None:
    # top_p 0.75 keeps 0.5 and 0.3 whatever the temperature (llama.cpp's order)
    for temperature in (0.5, 1.0, 2.0):
        probs = sampling_distribution(LOGPROBS, temperature, top_p=0.75)
        assert [p > 0 for p in probs] == [True, True, False, False]
    hot = sampling_distribution(LOGPROBS, 2.0, top_p=0.75)
    assert hot[0] == pytest.approx(0.5**0.5 / (0.5**0.5 + 0.3**0.5))  # reshaped over the kept two


def test_top_k_min_p_and_greedy() -> None:
    assert [p > 0 for p in sampling_distribution(LOGPROBS, 1.0, top_k=2)] == [True, True, False, False]
    # min_p 0.2 keeps tokens at least a fifth as likely as the best: 0.5, 0.3, 0.15
    assert [p > 0 for p in sampling_distribution(LOGPROBS, 1.0, min_p=0.2)] == [True, True, True, False]
    assert sampling_distribution(LOGPROBS, 0.0) == [1.0, 0.0, 0.0, 0.0]
    plain = sampling_distribution(LOGPROBS, 1.0)
    assert plain == pytest.approx([0.5, 0.3, 0.15, 0.05]) and sum(plain) == pytest.approx(1.0)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        sampling_distribution(LOGPROBS, -1.0)
    with pytest.raises(ValueError):
        sampling_distribution(LOGPROBS, 1.0, top_p=0.0)

"""What temperature and top_p do to a next-token distribution (pure functions, for teaching)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def sampling_distribution(logprobs: Sequence[float], temperature: float, top_p: float = 1.0) -> list[float]:
    """The probabilities a sampler draws from, given the model's log-probabilities.

    Temperature divides the log-probabilities before renormalising (0 means greedy: all the
    mass on the most likely token); top_p keeps the smallest set of most likely tokens whose
    mass reaches top_p and renormalises over it. Probabilities come back in input order.
    """
    if not logprobs:
        return []
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
    if temperature == 0:
        best = max(range(len(logprobs)), key=lambda i: logprobs[i])
        return [1.0 if i == best else 0.0 for i in range(len(logprobs))]
    scaled = [lp / temperature for lp in logprobs]
    top = max(scaled)
    weights = [math.exp(x - top) for x in scaled]
    total = sum(weights)
    probs = [w / total for w in weights]
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, mass = set(), 0.0
    for i in order:
        kept.add(i)
        mass += probs[i]
        if mass >= top_p - 1e-12:
            break
    kept_mass = sum(probs[i] for i in kept)
    return [probs[i] / kept_mass if i in kept else 0.0 for i in range(len(probs))]

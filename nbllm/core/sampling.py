"""What a sampler does to a next-token distribution (pure functions, for teaching).

Pure: runs on whatever thread calls it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# llama.cpp's sampler chain (as the embedded model's server runs it), in the order it runs: the truncations see
# the model's own probabilities, and temperature reshapes only what they kept.
LLAMA_CPP_ORDER = ("top_k", "top_p", "min_p", "temperature")


def sampling_distribution(
    logprobs: Sequence[float], temperature: float, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0
) -> list[float]:
    """The probabilities a llama.cpp sampler draws from, given the model's log-probabilities
    over the whole vocabulary (or any candidate set).

    As llama.cpp runs them: top_k keeps the k most likely tokens (0: all); top_p keeps the
    fewest most likely tokens whose probability reaches top_p; min_p keeps tokens at least
    min_p times as likely as the most likely one; then temperature divides the kept
    log-probabilities before they are renormalised (0 means greedy: all the mass on the most
    likely token). Probabilities come back in input order, 0.0 for every token cut.
    """
    if not logprobs:
        return []
    if temperature < 0 or not 0 < top_p <= 1 or top_k < 0 or not 0 <= min_p <= 1:
        raise ValueError("temperature must be >= 0, top_p in (0, 1], top_k >= 0 and min_p in [0, 1]")
    kept = sorted(range(len(logprobs)), key=lambda i: -logprobs[i])
    if top_k:
        kept = kept[:top_k]
    best = logprobs[kept[0]]
    if top_p < 1:
        weights = [math.exp(logprobs[i] - best) for i in kept]
        total, mass = sum(weights), 0.0
        for count, weight in enumerate(weights, 1):
            mass += weight / total
            if mass >= top_p:
                kept = kept[:count]
                break
    if min_p > 0:
        floor = best + math.log(min_p)
        kept = [i for i in kept if logprobs[i] >= floor]
    probs = [0.0] * len(logprobs)
    if temperature == 0:
        probs[kept[0]] = 1.0
        return probs
    weights = [math.exp((logprobs[i] - best) / temperature) for i in kept]
    total = sum(weights)
    for i, weight in zip(kept, weights):
        probs[i] = weight / total
    return probs

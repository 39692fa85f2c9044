"""A generation token by token: each token with its probability and the alternatives the model
had there, and which of them a sampler's settings would have allowed (for the token tree).

Pure: runs on whatever thread calls it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TokenStep:
    """One generated token, its log-probability, and the model's most likely tokens at that
    point (token, log-probability), most likely first: its own distribution, before sampling."""

    token: str
    logprob: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


def allowed(
    alternatives: list[tuple[str, float]],
    temperature: float,
    top_p: float = 1.0,
    top_k: int = 0,
    min_p: float = 0.0,
) -> tuple[list[float], bool]:
    """The probability a sampler with these settings gives each of `alternatives` (0.0: cut),
    and whether that is exact.

    The truncations see the model's own probabilities, as llama.cpp runs them (top_k, top_p,
    min_p, then temperature). Only the shown alternatives are known, so when top_p's nucleus
    reaches past them the renormalised probabilities are approximate (False); which shown
    tokens are allowed is exact either way.
    """
    if not alternatives:
        return [], True
    order = sorted(range(len(alternatives)), key=lambda i: -alternatives[i][1])
    kept = order[:top_k] if top_k else order
    complete = bool(top_k) and top_k <= len(alternatives)
    if top_p < 1:
        mass = 0.0
        for count, i in enumerate(kept, 1):
            mass += math.exp(alternatives[i][1])
            if mass >= top_p:
                kept, complete = kept[:count], True
                break
    best = alternatives[kept[0]][1]
    if min_p > 0:
        kept = [i for i in kept if alternatives[i][1] >= best + math.log(min_p)]
    probs = [0.0] * len(alternatives)
    if temperature == 0:
        probs[kept[0]] = 1.0
        return probs, True
    weights = {i: math.exp((alternatives[i][1] - best) / temperature) for i in kept}
    total = sum(weights.values())
    for i, weight in weights.items():
        probs[i] = weight / total
    return probs, complete or sum(math.exp(a[1]) for a in alternatives) > 0.999

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

    As llama.cpp runs them: top_k keeps the k most likely tokens and renormalises over them;
    top_p keeps the fewest of those whose probabilities reach top_p; min_p keeps tokens at
    least min_p times as likely as the most likely one; then temperature reshapes what is left.
    Only the shown alternatives are known: when top_k keeps more tokens than are shown (or
    none is set and top_p's nucleus reaches past them), the numbers are approximate (False).
    """
    if not alternatives:
        return [], True
    order = sorted(range(len(alternatives)), key=lambda i: -alternatives[i][1])
    kept = order[:top_k] if top_k else order
    whole = bool(top_k) and top_k <= len(alternatives)  # every token top_k keeps is shown
    norm = sum(math.exp(alternatives[i][1]) for i in kept) if whole else 1.0
    complete = whole
    if top_p < 1:
        mass = 0.0
        for count, i in enumerate(kept, 1):
            mass += math.exp(alternatives[i][1]) / norm
            if mass >= top_p:
                kept = kept[:count]
                complete = complete or not top_k  # the nucleus closed within the shown tokens
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
    shown_all = not top_k and top_p >= 1 and sum(math.exp(a[1]) for a in alternatives) > 0.999
    return probs, complete or shown_all

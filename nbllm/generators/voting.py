"""Vote counting: comparable keys for answers, and the tally (pure logic, no model).

Pure: runs on whatever thread calls it (the I/O loop, in MajorVoteGenerator).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

REASONING_FIELDS = frozenset({"reasoning", "rationale", "explanation", "thoughts", "thinking"})


def vote_key(value: Any, ignore: frozenset[str] = REASONING_FIELDS) -> str:
    """A key under which equal answers collide: parsed outputs without their reasoning
    fields, or free text normalised (case, spacing, trailing punctuation)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        value = {k: _norm_leaf(v) for k, v in value.items() if k not in ignore}
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return json.dumps([_norm_leaf(v) for v in value])
    return normalise_text(str(value))


def _norm_leaf(value: Any) -> Any:
    return normalise_text(value) if isinstance(value, str) else value


def normalise_text(text: str) -> str:
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text.rstrip(".!?;:, ")


@dataclass
class Tally:
    """Votes per key (in order of first appearance) and the leading key."""

    counts: dict[str, int]
    leader: str | None
    leader_votes: int

    @property
    def has_majority(self) -> bool:
        """At least two votes agree on the leader."""
        return self.leader_votes >= 2


def tally(keys: list[str | None]) -> Tally:
    """Count votes; None (a failed run) casts no vote. Ties go to the earliest answer."""
    counts = Counter(k for k in keys if k is not None)
    ordered = {k: counts[k] for k in dict.fromkeys(k for k in keys if k is not None)}
    if not ordered:
        return Tally({}, None, 0)
    leader = max(ordered, key=lambda k: ordered[k])  # max keeps the first of equal counts
    return Tally(ordered, leader, ordered[leader])

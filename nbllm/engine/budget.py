"""Token accounting with prices, and an optional budget that stops a batch before it is exceeded.

Reserved and settled on the I/O loop, read from any thread (the caller's, a CostMeter's on
nbllm-callbacks); a lock makes each step atomic.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from nbllm.errors import BudgetExceededError


@dataclass
class Budget:
    """Prices per token (in any currency) and an optional ceiling on the total cost.

    Before a request is sent, the engine reserves its worst-case cost in one atomic step: the
    prompt at about four characters a token, plus the most output it can write (``max_tokens``;
    without it the model's own ceiling: its known maximum output, or its context less the
    prompt; where neither is known, ``assumed_output_tokens``). A request whose reservation
    would cross ``max_cost`` is not sent and its row records BudgetExceededError. When the
    answer arrives the reservation is replaced by what it really cost. So the total spent
    exceeds ``max_cost`` only by what requests in flight cost beyond their reservation: a
    prompt with more tokens than estimated, or output past ``assumed_output_tokens`` on a model
    whose ceiling nbllm does not know. An attempt that failed may have been billed though no
    usage came back: one that timed out counts its reservation as spent, a cut stream its
    prompt and the tokens received, a connection broken after sending its prompt (estimated,
    and kept apart in ``unmetered``). Offline
    batches reserve every request before the batch is submitted. Cache hits cost nothing.
    """

    price_per_input_token: float = 0.0
    price_per_output_token: float = 0.0
    max_cost: float | None = None
    assumed_output_tokens: int = 16_384  # held for a request without max_tokens on an unknown model
    input_tokens: int = 0
    output_tokens: int = 0  # a reasoning model's thinking included: it is billed as output
    reasoning_tokens: int = 0  # of output_tokens, those that were thinking
    requests: int = 0
    reserved: float = 0.0
    unmetered: float = 0.0  # estimated cost of failed attempts the provider may have billed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def cost_of(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens * self.price_per_input_token + output_tokens * self.price_per_output_token

    @property
    def cost(self) -> float:
        """What was spent so far (with ``unmetered``, the estimated cost of failed attempts)."""
        return self.cost_of(self.input_tokens, self.output_tokens) + self.unmetered

    def reserve(self, estimated_input: int, estimated_output: int) -> float:
        """Hold the estimated cost of one request, or raise BudgetExceededError; returns the hold."""
        estimate = self.cost_of(estimated_input, estimated_output)
        with self._lock:
            if self.max_cost is not None and self.cost + self.reserved + estimate > self.max_cost:
                raise BudgetExceededError(
                    f"budget of {self.max_cost:g} would be exceeded (spent {self.cost:.4g}, "
                    f"{self.reserved:.4g} held by requests in flight, this request up to {estimate:.4g}); "
                    "raise max_cost or lower max_tokens to continue."
                )
            self.reserved += estimate
        return estimate

    def settle(self, hold: float, input_tokens: int, output_tokens: int, reasoning_tokens: int = 0) -> None:
        """Replace a hold by the real usage of the answer it was for."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - hold)
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.reasoning_tokens += reasoning_tokens
            self.requests += 1

    def charge(self, hold: float, spent: float) -> None:
        """An attempt that may have been billed though no usage came back (it timed out, was
        cut, or its connection broke): `spent`, nbllm's estimate, counts (in ``unmetered``), so
        ``max_cost`` still holds."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - hold)
            self.unmetered += spent
            self.requests += 1

    def release(self, hold: float) -> None:
        """Give back a hold whose request failed."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - hold)

    def spend(self, input_tokens: int, output_tokens: int, reasoning_tokens: int = 0) -> None:
        """Record usage that had no hold (an offline batch's answers)."""
        self.settle(0.0, input_tokens, output_tokens, reasoning_tokens)

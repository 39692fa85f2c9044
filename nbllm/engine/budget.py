"""Token accounting with prices, and an optional budget that stops a batch before it is exceeded."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from nbllm.errors import BudgetExceededError


@dataclass
class Budget:
    """Prices per token (in any currency) and an optional ceiling on the total cost.

    The engine checks every request before sending it, estimating its cost from the prompt
    length and max_tokens; a request that could cross ``max_cost`` is not sent and its row
    records BudgetExceededError. Cache hits cost nothing.
    """

    price_per_input_token: float = 0.0
    price_per_output_token: float = 0.0
    max_cost: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def cost_of(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens * self.price_per_input_token + output_tokens * self.price_per_output_token

    @property
    def cost(self) -> float:
        """What was spent so far."""
        return self.cost_of(self.input_tokens, self.output_tokens)

    def check(self, estimated_input: int, estimated_output: int) -> None:
        if self.max_cost is None:
            return
        estimate = self.cost_of(estimated_input, estimated_output)
        if self.cost + estimate > self.max_cost:
            raise BudgetExceededError(
                f"budget of {self.max_cost:g} would be exceeded (spent {self.cost:.4g}, this request "
                f"up to {estimate:.4g}); raise max_cost or lower max_tokens to continue."
            )

    def spend(self, input_tokens: int, output_tokens: int) -> None:
        with self._lock:
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.requests += 1

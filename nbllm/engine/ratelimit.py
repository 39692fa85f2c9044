"""A requests-per-minute and tokens-per-minute limiter for the I/O loop."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """Spaces requests evenly so that at most `requests_per_minute` start in any minute, and
    holds new requests while the tokens of the last minute exceed `tokens_per_minute`."""

    def __init__(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.tokens_per_minute = tokens_per_minute
        self._next = 0.0
        self._spent: list[tuple[float, int]] = []

    async def acquire(self) -> None:
        now = time.monotonic()
        if self.interval:
            start = max(now, self._next)
            self._next = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)
        while self.tokens_per_minute and self._tokens_last_minute() >= self.tokens_per_minute:
            await asyncio.sleep(max(0.05, self._spent[0][0] + 60.0 - time.monotonic()))

    def spend(self, tokens: int) -> None:
        """Record tokens a finished request used (for the tokens-per-minute limit)."""
        if self.tokens_per_minute:
            self._spent.append((time.monotonic(), tokens))

    def _tokens_last_minute(self) -> int:
        horizon = time.monotonic() - 60.0
        self._spent = [(t, n) for t, n in self._spent if t > horizon]
        return sum(n for _, n in self._spent)

"""A scripted backend for unit tests of pure engine logic (never proof that a backend works)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, ClassVar

from pydantic import PrivateAttr

from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import NBLLMError
from nbllm.llms.base import AsyncLLM


class ScriptedLLM(AsyncLLM):
    """Answers "reply-<call number>" (or queued texts/errors); records every raw request."""

    max_choices: int = 1
    delay: float = 0.0

    supported_params: ClassVar[frozenset[str]] = frozenset(
        {"temperature", "top_p", "top_k", "max_tokens", "seed", "stop"}
    )
    supports_n: ClassVar[bool] = True

    _requests: list[RawRequest] = PrivateAttr(default_factory=list)
    _queue: deque[Any] = PrivateAttr(default_factory=deque)

    @property
    def model_name(self) -> str:
        return "scripted"

    def default_params(self) -> dict[str, Any]:
        return {"max_tokens": 16, "temperature": 0.5}

    @property
    def requests(self) -> list[RawRequest]:
        return self._requests

    def enqueue(self, *items: str | NBLLMError) -> None:
        """Queue texts or errors for the next calls, in order."""
        self._queue.extend(items)

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        self._requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        results = []
        for _ in range(min(request.n, self.max_choices)):
            item = self._queue.popleft() if self._queue else f"reply-{len(self._requests)}-{len(results)}"
            if isinstance(item, NBLLMError):
                raise item
            results.append(RawGeneration(item, input_tokens=3, output_tokens=2, finish_reason="stop"))
        return results

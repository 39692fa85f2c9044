"""What a backend implements, and nothing else: one raw call (blocking ``_generate_raw`` or
async ``_agenerate_raw``), an optional stream, and what it supports as data.

The engine calls only these. `LLM` (the facade in base.py) derives from `Backend` and adds the
settings and the user's methods; OpenAILLM, LlamaCppLLM, ProcessLLM's child and any user's own
backend fill these in. A blocking raw call runs on the backend's own bounded threads
("nbllm-backend-*"); an async one, and ``_astream_raw``, on nbllm's I/O loop; the rest on the
caller's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Optional

from nbllm.core.messages import Messages
from nbllm.core.params import ParameterSupport
from nbllm.engine import loop
from nbllm.engine.requests import RawGeneration, RawRequest, estimate_tokens
from nbllm.errors import UsageError
from nbllm.llms.settings import COMMON_PARAMS
from nbllm.llms.token_counts import PER_MESSAGE, TokenCount, estimate

_LOAD_LOCK = threading.RLock()


class Backend:
    """The hooks the engine calls. Subclasses implement ``model_name`` and a raw call."""

    supported_params: ClassVar[frozenset[str]] = COMMON_PARAMS
    supports_n: ClassVar[bool] = False  # one request can return several choices
    supports_streaming: ClassVar[bool] = False
    system_prompt: Optional[str]
    _blocking: Optional[concurrent.futures.ThreadPoolExecutor]  # made on first blocking call

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's name, as reported in outputs."""

    def load(self) -> None:
        """Load the model (backends that hold one override this; called on first use)."""

    def _check_ready(self) -> None:
        """Cheap checks before anything is scheduled (a key, a model file), on the caller's
        thread. By default it loads the model there, so a failing load raises at once; on the
        I/O loop it does nothing (the raw call loads, in a worker thread)."""
        if not loop.in_io_thread():
            self.load()

    def context_size(self) -> Optional[int]:
        """Tokens the model's context holds, where the backend knows it (bounds inputs)."""
        return None

    async def _output_ceiling(self, request: RawRequest) -> Optional[int]:
        """The most tokens one answer to `request` can have without max_tokens, where the
        backend knows it (the budget holds that much): here the context less the prompt."""
        size = self.context_size()
        return max(size - estimate_tokens(request), 1) if size else None

    def _count_prompt(self, text: str) -> TokenCount:
        """`text`'s tokens before it is sent (for estimates): an estimate, unless the backend
        has its model's tokenizer."""
        return estimate(text)

    def prompt_tokens(self, messages: Messages) -> TokenCount:
        """The tokens `messages` take when sent, and how they were counted: the backend's count
        of their texts plus what a chat format adds around each message."""
        counted = self._count_prompt("\n".join(m["content"] for m in messages))
        return TokenCount(counted.tokens + PER_MESSAGE * len(messages), counted.method, counted.exact)

    def _secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in an error, log or output (API keys)."""
        return ()

    def unload(self) -> None:
        """Release the model and its clients."""

    def default_params(self) -> dict[str, Any]:
        """The backend's own defaults, the lowest layer of the merge."""
        return {}

    def _default_system_prompt(self) -> Optional[str]:
        """The system prompt used when ``system_prompt`` is not set (a model may need one)."""
        return None

    @property
    def effective_system_prompt(self) -> Optional[str]:
        """The system prompt a call sends: ``system_prompt``, else the model's own default."""
        return self.system_prompt if self.system_prompt is not None else self._default_system_prompt()

    def _supported_params(self) -> frozenset[str]:
        return self.supported_params

    def parameter_support(self, params: Optional[dict[str, Any]] = None) -> ParameterSupport:
        """What this model takes, given `params` (default: its own): the parameters it refuses
        with why, and its reasoning_effort values. Widgets offer only these."""
        return ParameterSupport()

    def _cache_identity(self) -> dict[str, Any]:
        """What distinguishes this model's answers from another's, for the cache key."""
        return {"backend": type(self).__name__, "model": self.model_name}

    def _generate_raw(self, request: RawRequest) -> list[RawGeneration]:
        """Blocking raw call: one request, `request.n` choices (or fewer)."""
        raise UsageError(f"{type(self).__name__} implements neither _generate_raw nor _agenerate_raw.")

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        """The blocking raw call on this backend's own threads (as many as ``concurrency``),
        apart from the cache's, so a slow model never delays a cache look-up."""
        if self._blocking is None:
            self._blocking = concurrent.futures.ThreadPoolExecutor(
                max(1, getattr(self, "concurrency", 1)), thread_name_prefix="nbllm-backend"
            )
        return await asyncio.get_running_loop().run_in_executor(
            self._blocking, self._load_and_generate, request
        )

    def _load_and_generate(self, request: RawRequest) -> list[RawGeneration]:
        with _LOAD_LOCK:  # in the worker thread: a slow load never stalls the I/O loop, and
            self.load()  # the backend's threads never run one LLM's load() at once

        return self._generate_raw(request)

    def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        """Text deltas for one choice (backends with ``supports_streaming`` override this)."""
        raise UsageError(f"{type(self).__name__} cannot stream.")


def model_identity(llm: Any) -> Any:
    """What distinguishes an LLM's answers from another's (its backend, model and, for a file,
    its sha256): the identity caches, bundles and arena votes are kept under. Anything else
    (a stand-in, a generator's model) is known by its model name."""
    identity = getattr(llm, "_cache_identity", None)
    return identity() if callable(identity) else getattr(llm, "model_name", type(llm).__name__)

"""LlamaCppLLM: a GGUF model run in-process by llama-cpp-python (the embedded default)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

from pydantic import Field, PrivateAttr

from nbllm.core.formats import PROMPT_FORMATS
from nbllm.core.messages import Input, to_messages
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import BackendError, MissingDependencyError, ModelNotFoundError
from nbllm.llms.base import LLM
from nbllm.llms.embedded import EMBEDDED_NAME, EMBEDDED_SAMPLING, EMBEDDED_SYSTEM_PROMPT, embedded_model_path

_RENAMED = {"repetition_penalty": "repeat_penalty"}


@dataclass(eq=False)
class _LoadedModel:
    """A loaded llama.cpp model and the lock that keeps its one context to one thread at a time."""

    llama: Any
    lock: threading.Lock


# LLMs with the same file and settings share one loaded copy (each keeps its own parameters,
# history and cache); it is freed when the last of them lets go.
_LOADED: weakref.WeakValueDictionary[tuple[Any, ...], _LoadedModel] = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


def _shared_model(key: tuple[Any, ...], open_model: Callable[[], Any]) -> _LoadedModel:
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = _LoadedModel(open_model(), threading.Lock())
            _LOADED[key] = loaded
        return loaded


class LlamaCppLLM(LLM):
    """A llama.cpp model. Without ``model_path`` it is the embedded SmolLM2-135M-Instruct.

    One llama.cpp context must not be entered by two threads at once, so every call into
    the model holds a lock; concurrent callers simply queue. LlamaCppLLMs of the same file
    and settings share one loaded copy of the model.
    """

    model_path: Optional[str] = None
    concurrency: int = Field(1, ge=1, description="Calls queue on one model; >1 only adds waiting.")
    n_ctx: int = Field(2048, ge=128)
    n_threads: int = Field(
        1,
        ge=1,
        description="Decode threads. nbllm calls llama.cpp from a worker thread, where (measured "
        "on 2 cores) one decode thread beats two; prompts are still evaluated with n_threads_batch.",
    )
    n_threads_batch: Optional[int] = Field(None, ge=1, description="Prompt threads (default: up to 4 cores).")
    chat_format: Optional[str] = None

    supports_streaming: ClassVar[bool] = True
    supported_params: ClassVar[frozenset[str]] = frozenset(
        {
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "max_tokens",
            "seed",
            "stop",
            "frequency_penalty",
            "presence_penalty",
            "repetition_penalty",
        }
    )

    _loaded: Optional[_LoadedModel] = PrivateAttr(None)
    _embedder: Any = PrivateAttr(None)
    _scorer: Any = PrivateAttr(None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def resolved_path(self) -> Path:
        return Path(self.model_path) if self.model_path else embedded_model_path()

    @property
    def model_name(self) -> str:
        return EMBEDDED_NAME if not self.model_path else Path(self.model_path).stem

    def default_params(self) -> dict[str, Any]:
        """256 tokens; for the embedded model also its model card's temperature and top_p."""
        return {"max_tokens": 256, **({} if self.model_path else EMBEDDED_SAMPLING)}

    def default_system_prompt(self) -> Optional[str]:
        return None if self.model_path else EMBEDDED_SYSTEM_PROMPT

    def cache_identity(self) -> dict[str, Any]:
        path = self.resolved_path
        size = path.stat().st_size if path.exists() else None
        return {"backend": "llama.cpp", "file": path.name, "size": size, "chat_format": self.chat_format}

    def _open(self, **extra: Any) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise MissingDependencyError(
                "LlamaCppLLM needs llama-cpp-python: pip install llama-cpp-python"
            ) from exc
        path = self.resolved_path
        if not path.is_file():
            raise ModelNotFoundError(f"no GGUF model file at {str(path)!r}; check model_path.")
        return Llama(
            model_path=str(path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads_batch or min(os.cpu_count() or 1, 4),
            chat_format=self.chat_format,
            verbose=False,
            **extra,
        )

    def check_ready(self) -> None:
        """The model file must exist; loading it happens in the first call, off the I/O loop."""
        path = self.resolved_path
        if not path.is_file():
            raise ModelNotFoundError(f"no GGUF model file at {str(path)!r}; check model_path.")

    def context_size(self) -> int:
        return self.n_ctx

    def load(self) -> None:
        if self._loaded is None:
            key = (
                str(self.resolved_path),
                self.n_ctx,
                self.n_threads,
                self.n_threads_batch,
                self.chat_format,
            )
            self._loaded = _shared_model(key, self._open)

    def unload(self) -> None:
        with self._lock:
            self._loaded = None
            self._embedder = None
            self._scorer = None

    @property
    def _model(self) -> Any:
        assert self._loaded is not None, "load() first"
        return self._loaded.llama

    @property
    def _model_lock(self) -> threading.Lock:
        self.load()
        assert self._loaded is not None
        return self._loaded.lock

    @property
    def llama(self) -> Any:
        """The underlying llama_cpp.Llama (loaded on first use)."""
        self.load()
        return self._model

    def _generate_raw(self, request: RawRequest) -> list[RawGeneration]:
        kwargs = {_RENAMED.get(k, k): v for k, v in request.params.items()}
        if request.response_schema is not None:
            from llama_cpp import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_json_schema(
                json.dumps(request.response_schema), verbose=False
            )
        with self._model_lock:
            if "seed" in request.params:
                # A reused KV-cache prefix changes the logits slightly; a seeded call must
                # evaluate its prompt from scratch to be reproducible.
                self._model.reset()
            try:
                if request.prompt is not None:
                    response = self._model.create_completion(request.prompt, **kwargs)
                    text = response["choices"][0]["text"]
                else:
                    response = self._model.create_chat_completion(
                        messages=[dict(m) for m in request.messages], **kwargs
                    )
                    text = response["choices"][0]["message"]["content"] or ""
            except ValueError as exc:  # llama.cpp reports context overflow this way
                raise BackendError(f"llama.cpp refused the request: {exc} (n_ctx={self.n_ctx})") from exc
        usage = response["usage"]
        return [
            RawGeneration(
                text=text,
                input_tokens=usage["prompt_tokens"],
                output_tokens=usage["completion_tokens"],
                finish_reason=response["choices"][0].get("finish_reason"),
            )
        ]

    async def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        """Token by token from a worker thread (holding the model lock for the whole stream)."""
        io = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        kwargs = {_RENAMED.get(k, k): v for k, v in request.params.items()}

        def produce() -> None:
            finish = None
            try:
                with self._model_lock:
                    if "seed" in request.params:
                        self._model.reset()
                    prompt = (
                        request.prompt
                        if request.prompt is not None
                        else PROMPT_FORMATS["chatml"](request.messages)
                    )
                    prompt_tokens = len(self._model.tokenize(prompt.encode("utf-8"), special=True))
                    if request.prompt is not None:
                        chunks = self._model.create_completion(request.prompt, stream=True, **kwargs)
                    else:
                        chunks = self._model.create_chat_completion(
                            messages=[dict(m) for m in request.messages], stream=True, **kwargs
                        )
                    produced = 0
                    for chunk in chunks:
                        if stop.is_set():
                            chunks.close()
                            finish = "cancelled"
                            break
                        choice = chunk["choices"][0]
                        text = (
                            choice.get("text")
                            if request.prompt is not None
                            else choice["delta"].get("content")
                        )
                        finish = choice.get("finish_reason") or finish
                        if text:
                            produced += 1
                            io.call_soon_threadsafe(items.put_nowait, text)
                io.call_soon_threadsafe(items.put_nowait, RawGeneration("", prompt_tokens, produced, finish))
            except BaseException as exc:
                io.call_soon_threadsafe(items.put_nowait, exc)
            finally:
                io.call_soon_threadsafe(items.put_nowait, None)

        worker = io.run_in_executor(None, produce)
        try:
            while (item := await items.get()) is not None:
                if isinstance(item, BaseException):
                    raise BackendError(f"llama.cpp failed while streaming: {item}") from item
                yield item
        finally:
            stop.set()
            await asyncio.shield(worker)

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer (no special tokens added)."""
        model = self.llama
        with self._model_lock:
            return len(model.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def next_token_logprobs(
        self, input: Input, answer_prefix: str = "", top_n: int = 50
    ) -> list[tuple[str, float]]:
        """The model's real log-probabilities for the next token, the `top_n` most likely first.

        The input is rendered as a chat turn (ChatML, SmolLM2's template) followed by
        `answer_prefix`, the start of the assistant's answer. Used to teach what temperature
        and top_p do to the distribution a sample is drawn from.
        """
        import numpy as np

        prompt = self._render(to_messages(input, self.effective_system_prompt)) + answer_prefix
        with self._lock:
            if self._scorer is None:
                self._scorer = self._open(logits_all=True)
            scorer = self._scorer
            tokens = scorer.tokenize(prompt.encode("utf-8"), special=True)
            scorer.reset()
            scorer.eval(tokens)
            logits = np.asarray(scorer.scores[scorer.n_tokens - 1], dtype=np.float64)
            shifted = logits - logits.max()
            logprobs = shifted - np.log(np.exp(shifted).sum())
            best = np.argsort(-logprobs)[:top_n]
            return [
                (scorer.detokenize([int(i)]).decode("utf-8", errors="replace"), float(logprobs[i]))
                for i in best
            ]

    def _render(self, messages: Any) -> str:
        if self.prompt_formatting_fn is not None:
            return self.prompt_formatting_fn(messages)
        return PROMPT_FORMATS.get(self.prompt_format or "chatml", PROMPT_FORMATS["chatml"])(messages)

    def get_last_hidden_states(self, inputs: Sequence[Input]) -> list[Any]:
        """Per-token embeddings, a numpy array [num_tokens, hidden_size] per input.

        Chat inputs are rendered with the ChatML template (SmolLM2's) unless this LLM has
        its own prompt format.
        """
        import numpy as np
        from llama_cpp import LLAMA_POOLING_TYPE_NONE

        texts = [
            self._render(to_messages(x, self.effective_system_prompt, f"inputs[{i}]"))
            for i, x in enumerate(inputs)
        ]
        with self._lock:
            if self._embedder is None:
                self._embedder = self._open(embedding=True, pooling_type=LLAMA_POOLING_TYPE_NONE)
            return [np.asarray(self._embedder.embed(t), dtype=np.float32) for t in texts]

"""LlamaCppLLM: a GGUF model run in-process by llama-cpp-python (the embedded default)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Optional

from pydantic import Field, PrivateAttr

from nbllm.core.formats import PROMPT_FORMATS
from nbllm.core.messages import Input, to_messages
from nbllm.engine.protocol import RawGeneration, RawRequest
from nbllm.errors import BackendError, MissingDependencyError, ModelNotFoundError
from nbllm.llms.base import LLM
from nbllm.llms.embedded import EMBEDDED_NAME, embedded_model_path

_RENAMED = {"repetition_penalty": "repeat_penalty"}


class LlamaCppLLM(LLM):
    """A llama.cpp model. Without ``model_path`` it is the embedded SmolLM2-135M-Instruct.

    One llama.cpp context must not be entered by two threads at once, so every call into
    the model holds a lock; concurrent callers simply queue.
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

    _model: Any = PrivateAttr(None)
    _embedder: Any = PrivateAttr(None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def resolved_path(self) -> Path:
        return Path(self.model_path) if self.model_path else embedded_model_path()

    @property
    def model_name(self) -> str:
        return EMBEDDED_NAME if not self.model_path else Path(self.model_path).stem

    def default_params(self) -> dict[str, Any]:
        return {"max_tokens": 256}

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

    def load(self) -> None:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._open()

    def unload(self) -> None:
        with self._lock:
            self._model = None
            self._embedder = None

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
        self.load()
        with self._lock:
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

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer (no special tokens added)."""
        model = self.llama
        with self._lock:
            return len(model.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def get_last_hidden_states(self, inputs: Sequence[Input]) -> list[Any]:
        """Per-token embeddings, a numpy array [num_tokens, hidden_size] per input.

        Chat inputs are rendered with the ChatML template (SmolLM2's) unless this LLM has
        its own prompt format.
        """
        import numpy as np
        from llama_cpp import LLAMA_POOLING_TYPE_NONE

        render = PROMPT_FORMATS.get(self.prompt_format or "chatml", PROMPT_FORMATS["chatml"])
        if self.prompt_formatting_fn is not None:
            render = self.prompt_formatting_fn
        texts = [render(to_messages(x, self.system_prompt, f"inputs[{i}]")) for i, x in enumerate(inputs)]
        with self._lock:
            if self._embedder is None:
                self._embedder = self._open(embedding=True, pooling_type=LLAMA_POOLING_TYPE_NONE)
            return [np.asarray(self._embedder.embed(t), dtype=np.float32) for t in texts]

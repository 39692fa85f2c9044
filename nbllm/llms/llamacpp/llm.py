"""LlamaCppLLM: a GGUF model run by llama.cpp's server in a child process (the embedded default).

The model never runs in the user's process: llama.cpp's own C++ server (the portable, prebuilt
``xllamacpp`` wheel) runs on 127.0.0.1 in a process that every kernel of the user with the same
settings shares (`SharedServer`), and this backend talks to it from nbllm's I/O loop through an
`OpenAIEndpoint` (its OpenAI-compatible routes: the wire format is spoken in nbllm.llms.openai,
once for both backends). The server decodes up to ``n_parallel`` sequences together (continuous
batching), so the prompts of a batch, the samples of ``num_generations``, votes and grid cells
share each decode step. If the process dies, the requests it held fail with
`ServerDiedError` and the next request starts a new one.

The raw calls run on nbllm's I/O loop; the sync helpers (tokens, next-token distribution,
hidden states) block the calling thread only.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr

from nbllm.core.formats import PROMPT_FORMATS
from nbllm.core.messages import Input, Messages, to_messages
from nbllm.core.thinking import ReasoningDelta
from nbllm.core.tokens import TokenStep
from nbllm.engine import loop
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import (
    BackendError,
    MissingDependencyError,
    ModelNotFoundError,
    NBLLMError,
    TransientBackendError,
)
from nbllm.llms.base import AsyncLLM
from nbllm.llms.embedded import EMBEDDED_NAME, EMBEDDED_SAMPLING, EMBEDDED_SYSTEM_PROMPT, embedded_model_path
from nbllm.llms.llamacpp import steps
from nbllm.llms.llamacpp.child import DIRECT
from nbllm.llms.llamacpp.http import endpoint_for, json_or_text, lost, wait_dead
from nbllm.llms.llamacpp.server import ServerSettings, find_server_binary
from nbllm.llms.llamacpp.shared import SharedServer, shared_server
from nbllm.llms.model_files import file_sha256
from nbllm.llms.openai import wire
from nbllm.llms.openai.endpoint import OpenAIEndpoint
from nbllm.llms.openai.errors import connection_failure
from nbllm.llms.token_counts import TokenCount

_RENAMED = {"repetition_penalty": "repeat_penalty"}
# Measured here (benchmarks/embedded.py): 16 slots, each with its own context (a unified KV pool
# of the same size was 0.70x; a smaller one fails every request in flight once it fills), and
# 2 threads gave the most tokens per second.
DEFAULT_PARALLEL = 16
SYNC_TIMEOUT = 300.0


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class LlamaCppLLM(AsyncLLM):
    """A llama.cpp model. Without ``model_path`` it is the embedded SmolLM2-135M-Instruct.

    LlamaCppLLMs of the same file and server settings share one server process. Its memory is
    the model plus ``n_parallel`` x ``n_ctx`` tokens of context, allocated when it starts: each
    slot has ``n_ctx`` of its own, so a prompt up to ``n_ctx`` always fits, however long the
    others are. A token of SmolLM2's context takes 22.5 KB (f16, the default), so the defaults'
    16 x 2048 take 0.7 GiB; ``kv_cache_type="q8_0"`` halves that (12 KB), and lower
    ``concurrency`` or ``n_ctx`` take less.
    """

    model_path: Optional[str] = None
    concurrency: int = Field(
        DEFAULT_PARALLEL, ge=1, description="Requests in flight; the server decodes them together."
    )
    n_parallel: Optional[int] = Field(
        None, ge=1, le=64, description="Sequences the server decodes together (default: concurrency)."
    )
    n_ctx: int = Field(
        2048,
        ge=128,
        description="Context tokens per sequence, prompt and answer: every slot holds this many, "
        "so the server's context memory is n_parallel x n_ctx tokens, allocated when it starts.",
    )
    kv_cache_type: Literal["q8_0", "f16"] = Field(
        "f16",
        description="How the server stores the context: f16 (llama.cpp's own default) keeps "
        "answers as they were; q8_0 takes half its memory at the same speed, but changes some "
        "greedy and seeded answers a little (a machine short of memory, a Binder).",
    )
    n_threads: Optional[int] = Field(None, ge=1, description="Decode threads (default: up to 4 cores).")
    n_threads_batch: Optional[int] = Field(None, ge=1, description="Prompt threads (default: n_threads).")
    chat_format: Optional[str] = Field(
        None, description="A llama.cpp chat template name (chatml, llama3, ...); default: the model's own."
    )
    n_gpu_layers: int = Field(
        0,
        ge=-1,
        description="Layers offloaded to a GPU (Metal on a Mac); 0, the default, runs on the CPU on "
        "every machine (a Mac in a VM or with an unsupported GPU included); -1 offloads them all.",
    )
    server_binary: Optional[str] = Field(
        None,
        description="A llama-server binary of your own (a native or Homebrew build) to run the "
        "model with; default: the NBLLM_LLAMA_SERVER environment variable, else the server that "
        "comes with nbllm (the xllamacpp wheel).",
    )
    start_timeout: float = Field(
        120.0, gt=0, description="Seconds the server may take to load the model before the call fails."
    )
    reproducible: bool = Field(
        True,
        description="Greedy (temperature 0) and seeded answers come out the same alone, inside a "
        "batch and run after run: the server computes their prompts afresh. False lets it reuse "
        "the prompt tokens a slot already holds (faster; such an answer may then differ by a token "
        "between runs), and caches its answers apart from reproducible ones.",
    )

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
            "extra_body",
        }
    )

    _process: Optional[SharedServer] = PrivateAttr(None)
    _embedder: Optional[SharedServer] = PrivateAttr(None)

    # -- identity and settings --------------------------------------------------------------
    @property
    def resolved_path(self) -> Path:
        return Path(self.model_path) if self.model_path else embedded_model_path()

    @property
    def model_name(self) -> str:
        return EMBEDDED_NAME if not self.model_path else Path(self.model_path).stem

    def default_params(self) -> dict[str, Any]:
        """256 tokens; for the embedded model also its model card's temperature and top_p."""
        return {"max_tokens": 256, **({} if self.model_path else EMBEDDED_SAMPLING)}

    def _default_system_prompt(self) -> Optional[str]:
        return None if self.model_path else EMBEDDED_SYSTEM_PROMPT

    def _cache_identity(self) -> dict[str, Any]:
        """The model file by its content (a re-exported file under the same name is another model);
        for ``reproducible=False`` also that, so answers that may vary are kept apart (the
        default's keys are unchanged)."""
        path = self.resolved_path
        try:
            digest = file_sha256(path)
        except OSError:
            digest = None
        identity = {
            "backend": "llama.cpp",
            "file": path.name,
            "sha256": digest,
            "chat_format": self.chat_format,
        }
        if not self.reproducible:  # never served to a reproducible LLM, which promises the same text
            identity["reproducible"] = False
        return identity

    def _check_ready(self) -> None:
        """The model file must exist; the server starts in the first call, off the I/O loop."""
        path = self.resolved_path
        if not path.is_file():
            raise ModelNotFoundError(f"no GGUF model file at {str(path)!r}; check model_path.")

    def context_size(self) -> int:
        """Tokens the model's context holds: ``n_ctx``."""
        return self.n_ctx

    def _settings(self, embedding: bool = False) -> ServerSettings:
        threads = self.n_threads or _default_threads()
        return ServerSettings(
            model_path=str(self.resolved_path),
            n_ctx=self.n_ctx,
            n_parallel=1 if embedding else (self.n_parallel or self.concurrency),
            n_threads=threads,
            n_threads_batch=self.n_threads_batch or threads,
            chat_template=self.chat_format,
            embedding=embedding,
            n_gpu_layers=self.n_gpu_layers,
            kv_cache_type=self.kv_cache_type,
            server_binary=find_server_binary(self.server_binary),
            start_timeout=self.start_timeout,
        )

    @property
    def server_process(self) -> SharedServer:
        """The server process this LLM sends to (shared by LLMs with the same settings)."""
        settings = self._settings()
        if self._process is None or self._process.settings != settings:
            self._process = self._server_for(settings)
        return self._process

    def _server_for(self, settings: ServerSettings) -> SharedServer:
        if settings.server_binary is None:
            _check_server_installed()
        self._check_ready()
        return shared_server(settings)

    def load(self) -> None:
        """Start the server process now (otherwise the first request starts it)."""
        self.server_process.address()

    def unload(self) -> None:
        """Let go of the server; its process stops when no LLM holds it any more."""
        self._process = None
        self._embedder = None

    # -- the raw calls (nbllm's I/O loop) ---------------------------------------------------
    def _body(self, request: RawRequest, stream: bool = False) -> dict[str, Any]:
        """The request as llama.cpp's server takes it: its parameter names, its own options (a
        raw prompt goes to /v1/completions, a chat to /v1/chat/completions: wire.path_of)."""
        params = dict(request.params)
        extra = params.pop("extra_body", None) or {}
        body: dict[str, Any] = {_RENAMED.get(k, k): v for k, v in params.items()}
        if self.reproducible and ("seed" in body or body.get("temperature") == 0):
            # reproducible requests (seeded, or greedy) are computed afresh: a reused KV prefix
            # changes the logits a little, enough to change a greedy answer
            body["cache_prompt"] = False
        if request.response_schema is not None:
            body["json_schema"] = request.response_schema
        body.update(extra)  # the server's own options (grammar, chat_template_kwargs, ...)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if request.prompt is not None:
            body["prompt"] = request.prompt
        else:
            body["messages"] = [dict(m) for m in request.messages]
        return body

    async def _target(self) -> tuple[SharedServer, Any, OpenAIEndpoint]:
        """The server process, the process that will hold the request, and the OpenAI endpoint
        at the address it runs at now."""
        process = self.server_process
        proc = process.proc
        address = process.running_address()
        if address is None:  # start it (or a new one) off the I/O loop: the model load blocks
            address = await asyncio.to_thread(process.address)
            proc = process.proc
        return process, proc, endpoint_for(process, address, self.model_name)

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        body = self._body(request)
        process, proc, endpoint = await self._target()
        try:
            answer = await endpoint.post(request, body)
        except Exception as exc:
            raise await self._failed(exc, process, proc, endpoint) from None
        return wire.generations(answer, "the embedded model's server")

    async def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | ReasoningDelta | RawGeneration]:
        """Token by token from the server's stream."""
        body = self._body(request, stream=True)
        process, proc, endpoint = await self._target()
        reader = wire.StreamReader()
        try:
            chunks = await endpoint.post_stream(request, body)
            async with chunks:  # closed when the caller stops reading: the server stops the slot
                async for chunk in chunks:
                    for item in reader.read(chunk):
                        yield item
        except Exception as exc:
            raise await self._failed(exc, process, proc, endpoint) from None
        for item in reader.close():
            yield item
        yield reader.generation()

    async def _failed(
        self, exc: Exception, process: SharedServer, proc: Any, endpoint: OpenAIEndpoint
    ) -> NBLLMError:
        """A failed call as nbllm's error: a dropped connection is the server's death or a passing
        fault (`lost`); an answer is converted as any OpenAI-compatible server's is."""
        cause = connection_failure(exc)
        if cause is not None:
            return await lost(process, proc, cause)
        return self._with_context_note(endpoint.convert(exc))

    def _with_context_note(self, error: NBLLMError) -> NBLLMError:
        """A refusal that says the context is exceeded names this LLM's n_ctx."""
        if type(error) is BackendError and "context" in error.message.lower():
            return BackendError(f"{error.message} (n_ctx={self.n_ctx} tokens per sequence)")
        return error

    # -- what else the model can tell (caller's thread) -------------------------------------
    # llama.cpp's own routes (/tokenize, /props, /completion, /embedding), not the OpenAI wire
    # format: posted with urllib from the caller's thread, blocking it, never the I/O loop's.
    def _refused(self, status: int, answer: Any) -> BackendError:
        error = answer.get("error") if isinstance(answer, dict) else None
        message = error.get("message") if isinstance(error, dict) else str(answer)[:300]
        if status == 503:
            return TransientBackendError(f"the embedded model's server is busy loading: {message}")
        return BackendError(f"llama.cpp refused the request: {message} (n_ctx={self.n_ctx} per sequence)")

    def _post_sync(self, process: SharedServer, path: str, body: dict[str, Any] | None) -> Any:
        """POST `body` to the server (GET without one) from the caller's thread."""
        if loop.in_io_thread():
            raise RuntimeError("LlamaCppLLM's sync helpers block; call them outside nbllm's I/O loop.")
        address = process.address()
        proc = process.proc
        request = urllib.request.Request(
            address + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {process.key}", "Content-Type": "application/json"},
        )
        try:
            with DIRECT.open(request, timeout=SYNC_TIMEOUT) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise self._refused(exc.code, json_or_text(exc.read())) from None
        except OSError as exc:
            if proc is None or not wait_dead(proc):
                raise TransientBackendError(f"the embedded model's server did not answer: {exc}") from None
            raise process.died_error(proc) from None

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer (no special tokens added)."""
        answer = self._post_sync(
            self.server_process, "/tokenize", {"content": text, "add_special": False, "parse_special": True}
        )
        return len(answer["tokens"])

    def prompt_tokens(self, messages: Messages) -> TokenCount:
        """The tokens `messages` take when sent: the chat template's own, counted exactly."""
        return TokenCount(self.count_tokens(self._render(messages)), f"{self.model_name}'s tokenizer", True)

    def sampler_settings(self) -> dict[str, Any]:
        """The sampler chain a request meets in the server: llama.cpp's order (``samplers``),
        top_k, top_p, min_p and temperature (the server's defaults, this LLM's over them)."""
        defaults = self._post_sync(self.server_process, "/props", None)["default_generation_settings"]
        engine = defaults.get("params", defaults)
        settings = {name: engine[name] for name in ("top_k", "top_p", "min_p", "temperature")}
        for layer in (self.default_params(), self.params.set_values()):
            settings.update({k: v for k, v in layer.items() if k in settings})
        return {**settings, "samplers": list(engine.get("samplers", ()))}

    def next_token_logprobs(
        self, input: Input, answer_prefix: str = "", top_n: int | None = 50
    ) -> list[tuple[str, float]]:
        """The model's real log-probabilities for the next token, the `top_n` most likely first
        (``top_n=None``: every token of the vocabulary).

        One decode step: the input is rendered as a chat turn (ChatML, SmolLM2's template)
        followed by `answer_prefix`, the start of the assistant's answer; the probabilities are
        the softmax over the whole vocabulary before any sampler touches them.
        """
        prompt = self._render(to_messages(input, self.effective_system_prompt)) + answer_prefix
        answer = self._post_sync(
            self.server_process,
            "/completion",
            {
                "prompt": prompt,
                "n_predict": 1,
                "n_probs": top_n or 2**31 - 1,  # the server sends at most the whole vocabulary
                "temperature": 0,
                "cache_prompt": False,
                "post_sampling_probs": False,
            },
        )
        (step,) = answer["completion_probabilities"][:1]
        return [(p["token"], float(p["logprob"])) for p in step["top_logprobs"][: top_n or None]]

    def token_steps(
        self, input: Input, answer_prefix: str = "", top_k: int = 10, **params: Any
    ) -> list[TokenStep]:
        """The tokens the model writes after `answer_prefix`, each with the `top_k` tokens it
        could have written there and their real probabilities (see nbllm.TokenTree)."""
        return steps.token_steps(self, input, answer_prefix, top_k, params)

    def _render(self, messages: Any) -> str:
        if self.prompt_formatting_fn is not None:
            return self.prompt_formatting_fn(messages)
        return PROMPT_FORMATS.get(self.prompt_format or "chatml", PROMPT_FORMATS["chatml"])(messages)

    def get_last_hidden_states(self, inputs: Sequence[Input]) -> list[Any]:
        """Per-token embeddings, a numpy array [num_tokens, hidden_size] per input.

        Chat inputs are rendered with the ChatML template (SmolLM2's) unless this LLM has its
        own prompt format. A second server process, in embedding mode, computes them.
        """
        import numpy as np

        texts = [
            self._render(to_messages(x, self.effective_system_prompt, f"inputs[{i}]"))
            for i, x in enumerate(inputs)
        ]
        if self._embedder is None:
            self._embedder = self._server_for(self._settings(embedding=True))
        states = []
        for text in texts:
            (item,) = self._post_sync(self._embedder, "/embedding", {"content": text})
            states.append(np.asarray(item["embedding"], dtype=np.float32))
        return states


def served_settings(**config: Any) -> tuple[LlamaCppLLM, ServerSettings, dict[str, str]]:
    """What ``nbllm serve`` runs: the LLM made of `config`, its server's settings, and the
    model's identity (file name and sha256) that kernels check before they use it."""
    llm = LlamaCppLLM(cache=False, **config)
    llm._check_ready()
    path = llm.resolved_path
    return llm, llm._settings(), {"file": path.name, "sha256": file_sha256(path)}


def _check_server_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        raise MissingDependencyError("the embedded model's server needs xllamacpp: pip install xllamacpp")


@functools.lru_cache(maxsize=1)
def _counter() -> Any:
    return LlamaCppLLM(cache=False)  # the default settings: it shares the default LLM's server


def count_embedded_tokens(text: str) -> int:
    """Tokens in `text` by the embedded model's tokenizer, for counting where a server sends no
    usage (its server process starts on first use; blocks the calling thread)."""
    return _counter().count_tokens(text)

"""OpenAILLM: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

The connection (base_url, key, transport) is configuration; the wire format is the `openai`
package's async client, created lazily on nbllm's I/O loop so its connection pool always
belongs to one loop. Retries are the engine's, so the client's own are turned off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from nbllm.core.outputs import GenerateOutputs
from nbllm.engine import loop
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import (
    AuthenticationError,
    BackendError,
    BatchNotFinishedError,
    MissingDependencyError,
    ModelNotFoundError,
    NBLLMError,
    TransientBackendError,
    redact,
)
from nbllm.llms.base import COMMON_PARAMS, AsyncLLM
from nbllm.llms.openai_errors import convert

OPENAI_URL = "https://api.openai.com/v1"


class OpenAILLM(AsyncLLM):
    """Chat completions from an OpenAI-compatible server.

    ``api_key`` defaults to ``OPENAI_API_KEY`` for the OpenAI API only; another server gets a
    key only when you pass ``api_key`` (a local one needs none). ``server_params`` names extra
    parameters the server understands (e.g. top_k for vLLM or llama.cpp), sent in the request
    body as they are.
    """

    model: str
    base_url: Optional[str] = None
    api_key: Optional[SecretStr] = Field(None, repr=False)
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    structured_output_mode: Literal["json_schema", "json_object"] = "json_schema"
    server_params: frozenset[str] = frozenset()
    check_model: bool = True
    use_offline_batch_generation: bool = Field(False, description="Generate through the OpenAI Batch API.")
    offline_batch_generation_block_until_done: Optional[float] = Field(
        None, gt=0, description="Poll every that many seconds until the batch is done (None: do not wait)."
    )
    jobs_ids: Optional[tuple[str, ...]] = Field(
        None, description="Ids of the offline batch jobs in progress."
    )

    supports_n: ClassVar[bool] = True
    supports_streaming: ClassVar[bool] = True
    checkpoint_exclude: ClassVar[frozenset[str]] = frozenset({"api_key", "prompt_formatting_fn"})

    _client: Any = PrivateAttr(None)
    _model_check: Optional[asyncio.Future[None]] = PrivateAttr(None)
    _n_refused: bool = PrivateAttr(False)

    @field_validator("server_params")
    @classmethod
    def _known_params(cls, value: frozenset[str]) -> frozenset[str]:
        from nbllm.core.params import GenerationParams

        unknown = sorted(set(value) - set(GenerationParams.model_fields))
        if unknown:
            raise ValueError(f"unknown generation parameter(s) {unknown}")
        return value

    @property
    def model_name(self) -> str:
        return self.model

    def _supported_params(self) -> frozenset[str]:
        return COMMON_PARAMS | self.server_params

    def cache_identity(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.model,
            "base_url": self.base_url or OPENAI_URL,
        }

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("model", "base_url", "api_key", "transport", "check_model"):
            self._forget_connection()

    def _forget_connection(self) -> None:
        client, self._client = self._client, None
        self._model_check = None
        if client is not None:
            _close_soon(client)

    def _sends_env_key(self) -> bool:
        return self.base_url is None or self.base_url.rstrip("/").startswith(OPENAI_URL)

    def _key(self) -> str:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if not self._sends_env_key():
            # OPENAI_API_KEY is for OpenAI: another server gets it only when the user passes it.
            return "not-needed"
        if os.environ.get("OPENAI_API_KEY"):
            return os.environ["OPENAI_API_KEY"]
        raise AuthenticationError(
            "no API key: pass OpenAILLM(api_key=...) or set OPENAI_API_KEY "
            "(another OpenAI-compatible server gets a key only through api_key=)."
        )

    def _secrets(self) -> tuple[str, ...]:
        try:
            key = self._key()
        except AuthenticationError:
            return ()
        return (key,) if key != "not-needed" else ()

    def _where(self) -> str:
        return self.base_url or OPENAI_URL

    def _convert(self, exc: Exception) -> NBLLMError:
        error = convert(exc, self._secrets(), self._where())
        if isinstance(error, AuthenticationError) and self.api_key is None and not self._sends_env_key():
            error = redact(
                AuthenticationError(
                    f"{error.message} nbllm sends OPENAI_API_KEY only to the OpenAI API: pass "
                    "api_key=... for this server."
                ),
                (),
            )
        return error

    def _make_client(self) -> Any:
        try:
            import openai
        except ImportError:
            raise MissingDependencyError("OpenAILLM needs openai: pip install 'openai[aiohttp]'") from None
        http_client = None
        if self.transport == "aiohttp":
            try:
                http_client = openai.DefaultAioHttpClient()
            except RuntimeError:
                raise MissingDependencyError(
                    "the aiohttp transport needs openai's extra: pip install 'openai[aiohttp]' "
                    "(or pass transport='httpx')"
                ) from None
        return openai.AsyncOpenAI(
            api_key=self._key(), base_url=self.base_url, max_retries=0, http_client=http_client
        )

    def check_ready(self) -> None:
        self._key()  # fail early, before any request, when there is no key

    def unload(self) -> None:
        client, self._client = self._client, None
        self._model_check = None
        if client is not None:
            loop.run_sync(client.close())

    async def _ensure_client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
            loop.close_at_exit(self._client.close)
            weakref.finalize(self, _close_soon, self._client)
        if self.check_model:
            if self._model_check is None:
                self._model_check = asyncio.ensure_future(self._check_model(self._client))
            check = self._model_check
            try:
                await asyncio.shield(check)
            except TransientBackendError:
                if self._model_check is check:
                    self._model_check = None  # a passing fault: the next request asks again
                raise
        return self._client

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by tiktoken (the optional extra ``nbllm[tiktoken]``; tiktoken fetches its
        encodings from the internet on first use). Generation statistics use the API's numbers."""
        try:
            import tiktoken
        except ImportError:
            return super().count_tokens(text)
        try:
            encoding = tiktoken.encoding_for_model(self.model)
        except KeyError:
            encoding = tiktoken.get_encoding("o200k_base")
        return len(encoding.encode(text))

    def _engine_config(self) -> Any:
        config = super()._engine_config()
        if self.use_offline_batch_generation:
            config.raw_batch = self._offline_batch
        return config

    async def agenerate_many(self, inputs: Any, num_generations: int = 1, **options: Any) -> GenerateOutputs:
        """As for every LLM; through the Batch API when use_offline_batch_generation is set, where
        an unfinished batch raises BatchNotFinishedError (what is already done is cached)."""
        outputs = await super().agenerate_many(inputs, num_generations, **options)
        if self.use_offline_batch_generation:
            for output in outputs:
                for error in output.errors:
                    if isinstance(error, BatchNotFinishedError):
                        raise error
            self.jobs_ids = None
        return outputs

    async def _offline_batch(self, work: list[tuple[str, RawRequest]]) -> dict[str, Any]:
        from nbllm.llms.offline_batch import OfflineBatch

        client = await self._ensure_client()
        batch = OfflineBatch(self, work)
        try:
            return await batch.run(client, self.offline_batch_generation_block_until_done)
        except NBLLMError:
            raise
        except Exception as exc:
            raise self._convert(exc) from None

    async def _check_model(self, client: Any) -> None:
        """Servers that ignore unknown model names (llama.cpp's) would hide a typo: ask once."""
        try:
            names = [m.id async for m in client.models.list()]
        except Exception as exc:
            error = self._convert(exc)
        else:
            error = None
        if error is not None:
            if isinstance(error, (AuthenticationError, TransientBackendError)):
                raise error
            names = []  # the server does not list models: nothing to check against
        if names and self.model not in names:
            raise ModelNotFoundError(
                f"model {self.model!r} is not served at {self._where()}; available: {', '.join(names[:10])}."
            )

    def request_body(self, request: RawRequest) -> dict[str, Any]:
        """The JSON body of a chat or completion request, as the server receives it."""
        body: dict[str, Any] = {"model": self.model, **request.params}
        if request.n > 1 and not self._n_refused:
            body["n"] = request.n
        if request.response_schema is not None:
            body["response_format"] = self._response_format(request)
        if request.prompt is not None:
            body["prompt"] = request.prompt
        else:
            body["messages"] = list(request.messages)
        return body

    def _client_kwargs(self, request: RawRequest, **more: Any) -> dict[str, Any]:
        """request_body as the openai client takes it: server-specific parameters in extra_body."""
        body = {**self.request_body(request), **more}
        extra = {k: body.pop(k) for k in list(body) if k in self.server_params and k not in COMMON_PARAMS}
        if extra:
            body["extra_body"] = extra
        return body

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        client = await self._ensure_client()
        kwargs = self._client_kwargs(request)
        try:
            if request.prompt is not None:
                response = await client.completions.create(**kwargs)
            else:
                response = await client.chat.completions.create(**kwargs)
            choices = _choices(response, self._where())
        except Exception as exc:
            error: NBLLMError | None = self._convert(exc)
            if "n" in kwargs and _refuses_n(exc):
                self._n_refused = True  # e.g. llama.cpp's server: the engine fetches the rest one by one
                error = None
        else:
            texts = [c.text if request.prompt is not None else (c.message.content or "") for c in choices]
            return _split_usage(response, choices, texts)
        if error is not None:
            raise error
        return await self._agenerate_raw(dataclasses.replace(request, n=1))

    async def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        client = await self._ensure_client()
        kwargs = self._client_kwargs(dataclasses.replace(request, n=1), stream=True)
        produced, finish, usage = 0, None, None
        error: NBLLMError | None = None
        try:
            if request.prompt is not None:
                stream = await client.completions.create(**kwargs)
            else:
                stream = await client.chat.completions.create(**kwargs)
            async for chunk in stream:
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                text = (
                    choice.text
                    if request.prompt is not None
                    else (choice.delta.content if choice.delta else None)
                )
                finish = choice.finish_reason or finish
                if text:
                    produced += 1
                    yield text
        except Exception as exc:
            error = self._convert(exc)
        if error is not None:
            raise error
        yield RawGeneration(
            "",
            getattr(usage, "prompt_tokens", 0) or 0,
            getattr(usage, "completion_tokens", 0) or produced,
            finish,
        )

    def _response_format(self, request: RawRequest) -> dict[str, Any]:
        if self.structured_output_mode == "json_object":
            return {"type": "json_object", "schema": request.response_schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": request.response_schema},
        }


def _close_soon(client: Any) -> None:
    """Close a client whose LLM was garbage-collected (its pool lives on nbllm's loop)."""
    try:
        loop.submit(client.close())
    except RuntimeError:
        pass  # the interpreter is shutting down


def _choices(response: Any, where: str) -> list[Any]:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise BackendError(
            f"{where} answered without any choices (body starts {str(response)[:120]!r}); it may not "
            "be an OpenAI-compatible endpoint, or the model failed: check base_url and the server's log."
        )
    return choices


def _split_usage(response: Any, choices: list[Any], texts: list[str]) -> list[RawGeneration]:
    """Per-choice generations; the usage's completion tokens are shared by text length."""
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
    completion = getattr(usage, "completion_tokens", 0) or 0
    total_chars = sum(len(t) for t in texts) or 1
    results = []
    for choice, text in zip(choices, texts):
        share = completion if len(texts) == 1 else round(completion * len(text) / total_chars)
        results.append(RawGeneration(text, prompt_tokens, share, getattr(choice, "finish_reason", None)))
    return results


def _refuses_n(exc: Exception) -> bool:
    text = str(getattr(exc, "message", exc)).lower()
    return getattr(exc, "status_code", None) in (400, 422, 500) and (
        "choice" in text or "'n'" in text or " n " in text
    )

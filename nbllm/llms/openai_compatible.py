"""OpenAILLM: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

The connection (base_url, key, transport) is configuration; the wire format is the `openai`
package's async client, created lazily on nbllm's I/O loop so its connection pool always
belongs to one loop. Retries are the engine's, so the client's own are turned off.
"""

from __future__ import annotations

import email.utils
import os
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from nbllm.core.messages import to_batch
from nbllm.core.outputs import GenerateOutputs
from nbllm.engine import loop
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import (
    AuthenticationError,
    BackendError,
    MissingDependencyError,
    ModelNotFoundError,
    NBLLMError,
    TransientBackendError,
    UsageError,
)
from nbllm.llms.base import COMMON_PARAMS, AsyncLLM


class OpenAILLM(AsyncLLM):
    """Chat completions from an OpenAI-compatible server.

    ``api_key`` defaults to ``OPENAI_API_KEY``; a local server (base_url on localhost) needs
    none. ``server_params`` names extra parameters the server understands (e.g. top_k for
    vLLM or llama.cpp), sent in the request body as they are.
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
    _model_checked: bool = PrivateAttr(False)
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
            "base_url": self.base_url or "https://api.openai.com/v1",
        }

    def _key(self) -> str:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if os.environ.get("OPENAI_API_KEY"):
            return os.environ["OPENAI_API_KEY"]
        if self.base_url and any(h in self.base_url for h in ("127.0.0.1", "localhost", "[::1]")):
            return "not-needed"
        raise AuthenticationError(
            "no API key: pass OpenAILLM(api_key=...) or set OPENAI_API_KEY "
            "(a local server needs none: pass its base_url)."
        )

    def _make_client(self) -> Any:
        try:
            import openai
        except ImportError as exc:
            raise MissingDependencyError("OpenAILLM needs openai: pip install 'openai[aiohttp]'") from exc
        http_client = None
        if self.transport == "aiohttp":
            try:
                http_client = openai.DefaultAioHttpClient()
            except RuntimeError as exc:
                raise MissingDependencyError(
                    "the aiohttp transport needs openai's extra: pip install 'openai[aiohttp]' "
                    "(or pass transport='httpx')"
                ) from exc
        return openai.AsyncOpenAI(
            api_key=self._key(), base_url=self.base_url, max_retries=0, http_client=http_client
        )

    def load(self) -> None:
        self._key()  # fail early, before any request, when there is no key

    def unload(self) -> None:
        client, self._client = self._client, None
        self._model_checked = False
        if client is not None:
            loop.run_sync(client.close())

    async def _ensure_client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
            loop.close_at_exit(self._client.close)
            weakref.finalize(self, _close_soon, self._client)
        if self.check_model and not self._model_checked:
            await self._check_model()
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

    async def agenerate_many(self, inputs: Any, num_generations: int = 1, **options: Any) -> GenerateOutputs:
        """As for every LLM, or through the Batch API when use_offline_batch_generation is set."""
        if not self.use_offline_batch_generation:
            return await super().agenerate_many(inputs, num_generations, **options)
        return await loop.run_async(self._offline(inputs, num_generations, options))

    async def _offline(self, inputs: Any, num_generations: int, options: dict[str, Any]) -> GenerateOutputs:
        from nbllm.llms.offline_batch import OfflineBatch

        if options.pop("fresh", False) or options.pop("structured_output", None) is not None:
            raise UsageError("offline batch generation does not take fresh= or structured_output=.")
        if not isinstance(num_generations, int) or num_generations < 1:
            raise UsageError(f"num_generations={num_generations!r} is invalid: it must be an integer >= 1.")
        batch = to_batch(inputs, self.system_prompt)
        params, _ = self.engine.prepare(self._engine_config(), [self.params.set_values(), options])
        work = OfflineBatch(self, batch, num_generations, params)
        client = await self._ensure_client()
        try:
            if self.jobs_ids is None:
                self.jobs_ids = work.saved_job_ids() or await work.submit(client)
            jobs = await work.poll(client, self.jobs_ids, self.offline_batch_generation_block_until_done)
            outputs = await work.results(client, jobs)
        except NBLLMError:
            raise
        except Exception as exc:
            raise _convert(exc, self._key()) from None
        work.forget()
        self.jobs_ids = None
        return outputs

    async def _check_model(self) -> None:
        """Servers that ignore unknown model names (llama.cpp's) would hide a typo: ask first."""
        try:
            names = [m.id async for m in self._client.models.list()]
        except Exception as exc:
            error = _convert(exc)
            if isinstance(error, (AuthenticationError, TransientBackendError)):
                raise error from exc
            names = []  # the server does not list models: nothing to check against
        if names and self.model not in names:
            raise ModelNotFoundError(
                f"model {self.model!r} is not served at {self.base_url or 'the OpenAI API'}; "
                f"available: {', '.join(names[:10])}."
            )
        self._model_checked = True

    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        client = await self._ensure_client()
        params = dict(request.params)
        extra = {k: params.pop(k) for k in list(params) if k in self.server_params and k not in COMMON_PARAMS}
        body: dict[str, Any] = {"model": self.model, **params}
        if request.n > 1 and not self._n_refused:
            body["n"] = request.n
        if extra:
            body["extra_body"] = extra
        if request.response_schema is not None:
            body["response_format"] = self._response_format(request)
        try:
            if request.prompt is not None:
                response = await client.completions.create(prompt=request.prompt, **body)
                texts = [c.text for c in response.choices]
            else:
                response = await client.chat.completions.create(messages=list(request.messages), **body)
                texts = [c.message.content or "" for c in response.choices]
        except Exception as exc:
            if "n" in body and _refuses_n(exc):
                # Some servers (llama.cpp's) reject n > 1: ask for one; the engine fetches the rest.
                self._n_refused = True
                return await self._agenerate_raw(
                    RawRequest(
                        request.messages,
                        request.prompt,
                        request.params,
                        1,
                        request.response_schema,
                        request.schema_name,
                    )
                )
            raise _convert(exc, self._key()) from None
        return _split_usage(response, texts)

    async def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        client = await self._ensure_client()
        params = dict(request.params)
        extra = {k: params.pop(k) for k in list(params) if k in self.server_params and k not in COMMON_PARAMS}
        body: dict[str, Any] = {"model": self.model, "stream": True, **params}
        if extra:
            body["extra_body"] = extra
        produced, finish, usage = 0, None, None
        try:
            if request.prompt is not None:
                stream = await client.completions.create(prompt=request.prompt, **body)
            else:
                stream = await client.chat.completions.create(messages=list(request.messages), **body)
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
            raise _convert(exc, self._key()) from None
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


def _split_usage(response: Any, texts: list[str]) -> list[RawGeneration]:
    """Per-choice generations; the usage's completion tokens are shared by text length."""
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
    completion = getattr(usage, "completion_tokens", 0) or 0
    total_chars = sum(len(t) for t in texts) or 1
    results = []
    for choice, text in zip(response.choices, texts):
        share = completion if len(texts) == 1 else round(completion * len(text) / total_chars)
        results.append(RawGeneration(text, prompt_tokens, share, choice.finish_reason))
    return results


def _refuses_n(exc: Exception) -> bool:
    text = str(getattr(exc, "message", exc)).lower()
    return getattr(exc, "status_code", None) in (400, 422, 500) and (
        "choice" in text or "'n'" in text or " n " in text
    )


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _convert(exc: Exception, secret: str | None = None) -> NBLLMError:
    """Map the openai client's exceptions onto nbllm's, with the API key blanked out of the
    message (a server may echo what it was sent)."""
    error = _convert_unredacted(exc)
    if secret and len(secret) > 4 and secret in error.message:
        error = type(error)(*(a.replace(secret, "sk-***") if isinstance(a, str) else a for a in error.args))
    return error


def _convert_unredacted(exc: Exception) -> NBLLMError:
    import openai

    if isinstance(exc, NBLLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return TransientBackendError("the request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return TransientBackendError(f"could not connect to the server: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status, detail = exc.status_code, _detail(exc)
        if status in (401, 403):
            return AuthenticationError(f"the server refused the API key ({status}): {detail}")
        if status == 404:
            return ModelNotFoundError(f"not found (404): {detail}; check the model name and base_url.")
        if status in (408, 409, 429) or status >= 500:
            return TransientBackendError(
                f"server answered {status}: {detail}", _retry_after(exc.response.headers)
            )
        return BackendError(f"server answered {status}: {detail}")
    return BackendError(f"malformed response or client failure: {type(exc).__name__}: {exc}")


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
        if message:
            return str(message)[:300]
    return str(getattr(exc, "message", exc))[:300]

"""OpenAILLM: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

The connection (base_url, key, transport) is configuration. Requests go through the `openai`
package's async client, created lazily on nbllm's I/O loop so its connection pool always
belongs to one loop, as plain JSON bodies. Retries are the engine's, so the client's own are
turned off. This module holds the class and its hooks; each concern lives in its own module:

- connection: the endpoint URL, the key and who gets it, the client, the model probe;
- wire: the wire format (posting a body, reading an answer as plain JSON);
- capabilities: what each endpoint takes, learnt from its answers (``capabilities``);
- structured: structured output per mode, what is sent when the server refuses a request for
  its shape, and the repair of an answer that does not fit the schema;
- notes: token counts nbllm estimates, and the note on seeds;
- stream: streaming; errors: the client's exceptions as nbllm's; steps: token alternatives;
- models: what is known of OpenAI's models; batch: the Batch API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import sys
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from nbllm.core.outputs import GenerateOutputs
from nbllm.core.params import ParameterSupport
from nbllm.core.tokens import TokenStep
from nbllm.engine import loop
from nbllm.engine.requests import RawGeneration, RawRequest, estimate_tokens
from nbllm.errors import (
    AuthenticationError,
    BatchNotFinishedError,
    NBLLMError,
    TransientBackendError,
    UnsupportedParameterError,
    public_url,
)
from nbllm.llms.base import AsyncLLM
from nbllm.llms.openai import connection, dialect, steps, wire
from nbllm.llms.openai import stream as openai_stream
from nbllm.llms.openai import structured as structured_output
from nbllm.llms.openai.capabilities import STRUCTURED_MODES, EndpointCapabilities, capabilities_of
from nbllm.llms.openai.errors import refused_request_text
from nbllm.llms.openai.models import known_output_ceiling
from nbllm.llms.openai.notes import estimated, with_seed_note
from nbllm.llms.settings import COMMON_PARAMS
from nbllm.llms.token_counts import TokenCount, estimate, tiktoken_offline

logger = logging.getLogger("nbllm")
# Beside the common ones: a reasoning model's dials, and a server's own options.
OPENAI_PARAMS = frozenset({"reasoning_effort", "verbosity", "extra_body"})


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
    structured_output_mode: Literal["auto", "json_schema", "json_object", "prompt"] = Field(
        "auto",
        description="How structured output is asked for: 'auto' tries json_schema, then json_object "
        "with the schema in the prompt, then the prompt alone with a repair request, and remembers "
        "what this endpoint takes.",
    )
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
        return COMMON_PARAMS | OPENAI_PARAMS | self.server_params

    def _cache_identity(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.model,
            "base_url": self._where(),
        }

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("model", "base_url", "api_key", "transport", "check_model"):
            self._forget_connection()

    def __repr_args__(self) -> Any:  # str(llm), IPython's pretty print: no password shown
        for name, value in super().__repr_args__():
            yield name, public_url(value) if name == "base_url" and value else value

    def _forget_connection(self) -> None:
        client, self._client = self._client, None
        self._model_check = None
        if client is not None:
            connection.close_soon(client)

    def _key(self) -> str:
        return connection.key_for(self.api_key, self._where())

    def _secrets(self) -> tuple[str, ...]:
        try:
            key = self._key()
        except AuthenticationError:
            return ()
        return (key,) if key != connection.NO_KEY else ()

    def _where(self) -> str:
        """The endpoint requests go to: base_url, else OPENAI_BASE_URL (as the openai client
        reads it), else the OpenAI API. The key rule, the cache and errors all use this one."""
        return connection.endpoint_url(self.base_url)

    def _convert(self, exc: Exception) -> NBLLMError:
        return connection.convert_error(exc, self._secrets(), self._where(), self.api_key is not None)

    def _check_ready(self) -> None:
        self._key()  # fail early, before any request, when there is no key

    def unload(self) -> None:
        client, self._client = self._client, None
        self._model_check = None
        if client is not None:
            loop.run_sync(client.close())

    async def _ensure_client(self) -> Any:
        if self._client is None:
            if "openai" not in sys.modules:  # its first import takes a second: not on the I/O loop
                await asyncio.to_thread(importlib.import_module, "openai")
            if self._client is None:  # no other request made it meanwhile
                self._client = connection.make_client(self._key(), self._where(), self.transport)
                loop.close_at_exit(self._client.close)
                weakref.finalize(self, connection.close_soon, self._client)
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
        """Tokens in `text` by tiktoken when its encoding for this model is on this machine
        (nbllm never downloads one), else by the embedded model's tokenizer. Generation
        statistics use the server's numbers where it sends them."""
        counted = self._count_prompt(text)
        if counted.exact:
            return counted.tokens
        from nbllm.llms.llamacpp.llm import count_embedded_tokens

        return count_embedded_tokens(text)

    def _count_prompt(self, text: str) -> TokenCount:
        """tiktoken's count where it can count offline, else an estimate (which starts nothing)."""
        encoding = tiktoken_offline(self.model)
        if encoding is None:
            return estimate(text)
        return TokenCount(len(encoding.encode(text)), f"tiktoken {encoding.name}", True)

    def token_steps(
        self, input: Any, answer_prefix: str = "", top_k: int = 10, **params: Any
    ) -> list[TokenStep]:
        """The tokens the server writes after `answer_prefix`, each with its `top_logprobs`
        alternatives (see nbllm.TokenTree)."""
        return steps.token_steps(self, input, answer_prefix, top_k, params)

    def _engine_config(self) -> Any:
        config = super()._engine_config()
        config.supports_n = self._endpoint().n_choices is not False  # else the engine fans out
        config.check_params = self._check_params
        if self.use_offline_batch_generation:
            config.raw_batch = self._offline_batch
        return config

    def _collected(self, outputs: GenerateOutputs) -> GenerateOutputs:
        """Through the Batch API (use_offline_batch_generation), an unfinished batch raises
        BatchNotFinishedError (what is already done is cached)."""
        if self.use_offline_batch_generation:
            for output in outputs:
                for error in output.errors:
                    if isinstance(error, BatchNotFinishedError):
                        raise error
            self.jobs_ids = None
        return outputs

    async def _offline_batch(self, work: list[tuple[str, RawRequest]]) -> dict[str, Any]:
        from nbllm.llms.openai.batch import OfflineBatch

        client = await self._ensure_client()
        batch = OfflineBatch(self, work)
        try:
            return await batch.run(client, self.offline_batch_generation_block_until_done)
        except NBLLMError:
            raise
        except Exception as exc:
            raise self._convert(exc) from None

    async def _check_model(self, client: Any) -> None:
        """Asked once per connection: the model is served, and its context length if stated."""
        length = await connection.check_model(client, self.model, self._where(), self._convert)
        if length:
            self._learn("context_length", length, "stated in the server's model list")

    async def _output_ceiling(self, request: RawRequest) -> Optional[int]:
        """Without max_tokens an answer can be as long as the model's maximum output (known for
        OpenAI's models) or its context less the prompt (as the server's model list states it)."""
        if self.check_model:
            await self._ensure_client()  # reads the model list once, where the context is stated
        limits = [known_output_ceiling(self.model), self._endpoint().context_length]
        if limits[1]:
            limits[1] = max(limits[1] - estimate_tokens(request), 1)
        known = [limit for limit in limits if limit]
        return min(known) if known else None

    # -- what this endpoint takes ------------------------------------------------------------
    @property
    def capabilities(self) -> dict[str, str]:
        """What nbllm has found out about this endpoint (structured output format, n > 1,
        usage in streams, seeds), and how; shared by every OpenAILLM on the same URL and model."""
        return self._endpoint().as_dict()

    def _endpoint(self) -> EndpointCapabilities:
        return capabilities_of(self._where(), self.model)

    def parameter_support(self, params: Optional[dict[str, Any]] = None) -> ParameterSupport:
        """What this model takes, given `params` (default: its own): the sampling parameters it
        refuses (by OpenAI's documentation of its models, or this endpoint's refusals) and its
        reasoning_effort values."""
        given = self.params.set_values() if params is None else params
        return dialect.support(self.model, given, self._endpoint())

    def _check_params(self, params: dict[str, Any]) -> None:
        """Refuse, before any request, a parameter this model is known not to take (by OpenAI's
        documentation of its models, or a refusal this endpoint gave before)."""
        dialect.check(self.model, params, self._endpoint())

    def _learn_refusal(self, refusal: str | None, body: dict[str, Any]) -> tuple[str, str] | None:
        """Remember a refused parameter (see dialect.learn); what was learnt, or None."""
        learnt = dialect.learn(refusal, body, self._endpoint()) if refusal is not None else None
        if learnt is not None:
            name, how = learnt
            self._endpoint().notes[name] = how
            logger.info("%s at %s: %s (%s)", self.model, self._where(), name, how)
        return learnt

    def _refused_param(self, learnt: tuple[str, str], error: NBLLMError) -> NBLLMError:
        """The error for a request refused for one of its parameters: which, and that the next
        request with it fails before it is sent."""
        name = learnt[0].removeprefix("refuses ")
        return UnsupportedParameterError(
            f"{self.model} at {self._where()} refused {name}: {error.message} nbllm remembers this, "
            f"and refuses {name} for this model before the next request.",
            name,
        )

    def _learn(self, name: str, value: Any, how: str) -> None:
        endpoint = self._endpoint()
        if getattr(endpoint, name) != value or name not in endpoint.notes:
            setattr(endpoint, name, value)
            endpoint.notes[name] = how
            logger.info("%s at %s: %s = %r (%s)", self.model, public_url(self._where()), name, value, how)

    def _structured_mode(self) -> str:
        if self.structured_output_mode != "auto":
            return self.structured_output_mode
        return self._endpoint().structured_output or STRUCTURED_MODES[0]

    def request_body(self, request: RawRequest, structured: str | None = None) -> dict[str, Any]:
        """The JSON body of a chat or completion request, as the server receives it."""
        body: dict[str, Any] = {
            "model": self.model,
            **dialect.body_params(self.model, request.params, self._endpoint()),
        }
        if request.n > 1 and self._endpoint().n_choices is not False:
            body["n"] = request.n
        messages = list(request.messages)
        if request.response_schema is not None:
            messages = structured_output.ask_for_schema(body, request, structured or self._structured_mode())
        if request.prompt is not None:
            body["prompt"] = request.prompt
        else:
            body["messages"] = messages
        return body

    # -- the raw calls --------------------------------------------------------------------------
    async def _agenerate_raw(self, request: RawRequest) -> list[RawGeneration]:
        client = await self._ensure_client()
        mode = self._structured_mode() if request.response_schema is not None else None
        body = self.request_body(request, mode)
        asked = body.get("n", 1)
        refusal: str | None = None
        try:
            answer = await wire.post(client, request, body)
            results = wire.generations(answer, self._where())
        except Exception as exc:
            refusal = refused_request_text(exc)
            error: NBLLMError | None = self._convert(exc)
        else:
            error = None
        if error is not None:
            learnt = self._learn_refusal(refusal, body)
            if learnt is not None:
                if learnt[0] == "max_tokens_field":  # the same bound under the name it takes
                    return await self._agenerate_raw(request)
                raise self._refused_param(learnt, error)
            return await structured_output.after_refusal(self, request, error, refusal, mode, asked)
        if asked > 1:
            if len(results) < asked:
                self._learn(
                    "n_choices", False, f"asked for {asked} choices, the server answered {len(results)}"
                )
            else:
                self._learn("n_choices", True, f"answered n={asked}")
        if mode is not None and self.structured_output_mode == "auto":
            self._learn("structured_output", mode, "accepted by the server")
        if not wire.has_usage(answer):
            results = [await asyncio.to_thread(estimated, self.count_tokens, request, r) for r in results]
            if len(results) > 1:  # one prompt, billed once: counted on the first choice
                results = [results[0], *(dataclasses.replace(r, input_tokens=0) for r in results[1:])]
        if mode in ("json_object", "prompt") and request.prompt is None:
            results = [await structured_output.repaired(self, client, request, r, mode) for r in results]
        return await with_seed_note(request, results, self._endpoint(), self._where(), self._secrets())

    def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        return openai_stream.stream(self, request)

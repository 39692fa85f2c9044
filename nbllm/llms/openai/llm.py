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
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from nbllm.core.outputs import GenerateOutputs
from nbllm.core.params import ParameterSupport
from nbllm.core.thinking import ReasoningDelta
from nbllm.core.tokens import TokenStep
from nbllm.engine.requests import RawGeneration, RawRequest, estimate_tokens
from nbllm.errors import (
    BatchNotFinishedError,
    NBLLMError,
    public_url,
)
from nbllm.llms.base import AsyncLLM
from nbllm.llms.openai import dialect, steps, wire
from nbllm.llms.openai import stream as openai_stream
from nbllm.llms.openai import structured as structured_output
from nbllm.llms.openai.capabilities import STRUCTURED_MODES
from nbllm.llms.openai.endpoint import OpenAIEndpoint
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

    _connection: Optional[OpenAIEndpoint] = PrivateAttr(None)

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

    @property
    def endpoint(self) -> OpenAIEndpoint:
        """Where this LLM's requests go: the URL, the key, the client and what the endpoint was
        found to accept (made again when the model, URL, key, transport or check changes)."""
        if self._connection is None:
            endpoint = OpenAIEndpoint(
                self.model, self.base_url, self.api_key, self.transport, self.check_model
            )
            weakref.finalize(self, endpoint.close_soon)
            self._connection = endpoint
        return self._connection

    def _supported_params(self) -> frozenset[str]:
        return COMMON_PARAMS | OPENAI_PARAMS | self.server_params

    def _cache_identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "base_url": self.endpoint.where}

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("model", "base_url", "api_key", "transport", "check_model"):
            connection_, self._connection = self._connection, None
            if connection_ is not None:
                connection_.close_soon()

    def __repr_args__(self) -> Any:  # str(llm), IPython's pretty print: no password shown
        for name, value in super().__repr_args__():
            yield name, public_url(value) if name == "base_url" and value else value

    def _secrets(self) -> tuple[str, ...]:
        return self.endpoint.secrets()

    def _check_ready(self) -> None:
        self.endpoint.key()  # fail early, before any request, when there is no key

    def unload(self) -> None:
        if self._connection is not None:
            self._connection.close()

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
        return steps.token_steps(self.endpoint, self, input, answer_prefix, top_k, params)

    def _engine_config(self) -> Any:
        config = super()._engine_config()
        config.supports_n = self.endpoint.capabilities.n_choices is not False  # else the engine fans out
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

        endpoint = self.endpoint
        batch = OfflineBatch(self, work)
        try:
            return await batch.run(await endpoint.client(), self.offline_batch_generation_block_until_done)
        except NBLLMError:
            raise
        except Exception as exc:
            raise endpoint.convert(exc) from None

    async def _output_ceiling(self, request: RawRequest) -> Optional[int]:
        """Without max_tokens an answer can be as long as the model's maximum output (known for
        OpenAI's models) or its context less the prompt (as the server's model list states it)."""
        endpoint = self.endpoint
        if endpoint.check_model:
            await endpoint.client()  # reads the model list once, where the context is stated
        limits = [known_output_ceiling(self.model), endpoint.capabilities.context_length]
        if limits[1]:
            limits[1] = max(limits[1] - estimate_tokens(request), 1)
        known = [limit for limit in limits if limit]
        return min(known) if known else None

    # -- what this endpoint takes ------------------------------------------------------------
    @property
    def capabilities(self) -> dict[str, str]:
        """What nbllm has found out about this endpoint (structured output format, n > 1,
        usage in streams, seeds, the parameters it refused), and how; shared by every OpenAILLM
        on the same URL and model."""
        return self.endpoint.capabilities.as_dict()

    def parameter_support(self, params: Optional[dict[str, Any]] = None) -> ParameterSupport:
        """What this model takes, given `params` (default: its own): the sampling parameters it
        refuses (by OpenAI's documentation of its models, or this endpoint's refusals) and its
        reasoning_effort values."""
        given = self.params.set_values() if params is None else params
        return dialect.support(self.model, given, self.endpoint.capabilities)

    def _check_params(self, params: dict[str, Any]) -> None:
        """Refuse, before any request, a parameter this model is known not to take (by OpenAI's
        documentation of its models, or a refusal this endpoint gave before)."""
        dialect.check(self.model, params, self.endpoint.capabilities)

    def _structured_mode(self) -> str:
        if self.structured_output_mode != "auto":
            return self.structured_output_mode
        return self.endpoint.capabilities.structured_output or STRUCTURED_MODES[0]

    def request_body(self, request: RawRequest, structured: str | None = None) -> dict[str, Any]:
        """The JSON body of a chat or completion request, as the server receives it."""
        found = self.endpoint.capabilities
        body: dict[str, Any] = {"model": self.model, **dialect.body_params(self.model, request.params, found)}
        if request.n > 1 and found.n_choices is not False:
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
        endpoint = self.endpoint
        mode = self._structured_mode() if request.response_schema is not None else None
        body = self.request_body(request, mode)
        asked = body.get("n", 1)
        refusal: str | None = None
        try:
            answer = await endpoint.post(request, body)
            results = wire.generations(answer, public_url(endpoint.where))
        except Exception as exc:
            refusal = refused_request_text(exc)
            error: NBLLMError | None = endpoint.convert(exc)
        else:
            error = None
        if error is not None:
            learnt = endpoint.learn_refusal(refusal, body)
            if learnt is not None:
                if learnt[0] == "max_tokens_field":  # the same bound under the name it takes
                    return await self._agenerate_raw(request)
                raise dialect.refused_error(endpoint.model, endpoint.where, learnt, error)
            resend = self._agenerate_raw
            mode_is_auto = self.structured_output_mode == "auto"
            return await structured_output.after_refusal(
                endpoint, resend, request, error, refusal, mode, asked, mode_is_auto
            )
        if asked > 1:
            if len(results) < asked:
                endpoint.learn(
                    "n_choices", False, f"asked for {asked} choices, the server answered {len(results)}"
                )
            else:
                endpoint.learn("n_choices", True, f"answered n={asked}")
        if mode is not None and self.structured_output_mode == "auto":
            endpoint.learn("structured_output", mode, "accepted by the server")
        if not wire.has_usage(answer):
            results = [await asyncio.to_thread(estimated, self.count_tokens, request, r) for r in results]
            if len(results) > 1:  # one prompt, billed once: counted on the first choice
                results = [results[0], *(dataclasses.replace(r, input_tokens=0) for r in results[1:])]
        if mode in ("json_object", "prompt") and request.prompt is None:
            results = [await structured_output.repaired(endpoint, self, request, r, mode) for r in results]
        return await with_seed_note(
            request, results, endpoint.capabilities, endpoint.where, endpoint.secrets()
        )

    def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | ReasoningDelta | RawGeneration]:
        return openai_stream.stream(self.endpoint, self, request)

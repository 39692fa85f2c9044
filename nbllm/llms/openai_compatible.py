"""OpenAILLM: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

The connection (base_url, key, transport) is configuration. Requests go through the `openai`
package's async client, created lazily on nbllm's I/O loop so its connection pool always
belongs to one loop, as plain JSON bodies (openai_wire). Retries are the engine's, so the
client's own are turned off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import os
import sys
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from nbllm.core.outputs import GenerateOutputs
from nbllm.core.schema import parse_json_answer
from nbllm.engine import loop
from nbllm.engine.requests import RawGeneration, RawRequest, estimate_tokens
from nbllm.errors import (
    AuthenticationError,
    BackendError,
    BatchNotFinishedError,
    MissingDependencyError,
    ModelNotFoundError,
    NBLLMError,
    ParseError,
    TransientBackendError,
    redact,
)
from nbllm.llms import openai_wire as wire
from nbllm.llms.base import COMMON_PARAMS, AsyncLLM
from nbllm.llms.embedded import count_embedded_tokens
from nbllm.llms.openai_endpoint import (
    STRUCTURED_MODES,
    EndpointCapabilities,
    capabilities_of,
    mentions_response_format,
    next_structured_mode,
    repair_messages,
    schema_instruction,
    with_instruction,
)
from nbllm.llms.openai_errors import convert, refused_request_text
from nbllm.llms.openai_models import context_length, known_output_ceiling

logger = logging.getLogger("nbllm")

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
        return COMMON_PARAMS | self.server_params

    def cache_identity(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.model,
            "base_url": self._where(),
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
        return self._where().rstrip("/").startswith(OPENAI_URL)

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
        """The endpoint requests go to: base_url, else OPENAI_BASE_URL (as the openai client
        reads it), else the OpenAI API. The key rule, the cache and errors all use this one."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL

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
            api_key=self._key(), base_url=self._where(), max_retries=0, http_client=http_client
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
            if "openai" not in sys.modules:  # its first import takes a second: not on the I/O loop
                await asyncio.to_thread(importlib.import_module, "openai")
            if self._client is None:  # no other request made it meanwhile
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
        """Tokens in `text` by tiktoken when installed (the optional extra ``nbllm[tiktoken]``;
        tiktoken fetches its encodings from the internet on first use), else by the embedded
        model's tokenizer. Generation statistics use the server's numbers where it sends them."""
        try:
            import tiktoken
        except ImportError:
            return count_embedded_tokens(text)
        try:
            encoding = tiktoken.encoding_for_model(self.model)
        except KeyError:
            encoding = tiktoken.get_encoding("o200k_base")
        return len(encoding.encode(text))

    def _engine_config(self) -> Any:
        config = super()._engine_config()
        config.supports_n = self._endpoint().n_choices is not False  # else the engine fans out
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
            models = [m async for m in client.models.list()]
            names = [m.id for m in models]
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
        for entry in models if names else []:
            length = context_length(entry.model_dump()) if entry.id == self.model else None
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

    def _learn(self, name: str, value: Any, how: str) -> None:
        endpoint = self._endpoint()
        if getattr(endpoint, name) != value or name not in endpoint.notes:
            setattr(endpoint, name, value)
            endpoint.notes[name] = how
            logger.info("%s at %s: %s = %r (%s)", self.model, self._where(), name, value, how)

    def _structured_mode(self) -> str:
        if self.structured_output_mode != "auto":
            return self.structured_output_mode
        return self._endpoint().structured_output or STRUCTURED_MODES[0]

    def request_body(self, request: RawRequest, structured: str | None = None) -> dict[str, Any]:
        """The JSON body of a chat or completion request, as the server receives it."""
        body: dict[str, Any] = {"model": self.model, **request.params}
        if request.n > 1 and self._endpoint().n_choices is not False:
            body["n"] = request.n
        messages = list(request.messages)
        if request.response_schema is not None:
            mode = structured or self._structured_mode()
            schema = request.response_schema
            if mode == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": request.schema_name, "schema": schema},
                }
            else:
                if mode == "json_object":
                    body["response_format"] = {"type": "json_object", "schema": schema}
                messages = with_instruction(messages, schema_instruction(schema))
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
            return await self._after_refusal(request, error, refusal, mode, asked)
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
            results = [await asyncio.to_thread(self._estimated, request, r) for r in results]
            if len(results) > 1:  # one prompt, billed once: counted on the first choice
                results = [results[0], *(dataclasses.replace(r, input_tokens=0) for r in results[1:])]
        if mode in ("json_object", "prompt") and request.prompt is None:
            results = [await self._repaired(client, request, r, mode) for r in results]
        return await self._with_seed_note(request, results)

    async def _after_refusal(
        self, request: RawRequest, error: NBLLMError, refusal: str | None, mode: str | None, asked: int
    ) -> list[RawGeneration]:
        """A request the server refused for its shape: learn what it takes and send that, or
        raise the error (never retried: the same request would be refused again)."""
        if refusal is None:
            raise error
        if mode is not None and mentions_response_format(refusal):
            fallback = next_structured_mode(mode)
            if self.structured_output_mode != "auto" or fallback is None:
                raise redact(
                    BackendError(
                        f"{error.message} The server does not take structured_output_mode={mode!r}: "
                        "use structured_output_mode='auto' and nbllm finds a format it takes."
                    ),
                    (),
                )
            self._learn("structured_output", fallback, f"{mode} refused: {_first_line(refusal)}")
            return await self._agenerate_raw(request)
        if asked > 1:
            # Either n is what the server refuses, or the request is wrong anyway: one choice tells.
            results = await self._agenerate_raw(dataclasses.replace(request, n=1))
            self._learn("n_choices", False, f"n={asked} refused: {_first_line(refusal)}")
            return results
        raise error

    async def _repaired(
        self, client: Any, request: RawRequest, result: RawGeneration, mode: str
    ) -> RawGeneration:
        """An answer the server did not hold to the schema, checked; if it does not fit, the model
        is shown its answer and the problem once, and asked for the corrected JSON."""
        assert request.response_schema is not None
        try:
            parse_json_answer(result.text, request.response_schema)
            return result
        except ParseError as exc:
            problem = exc.message
        fix = dataclasses.replace(
            request, messages=tuple(repair_messages(list(request.messages), result.text, problem)), n=1
        )
        try:
            answer = await wire.post(client, fix, self.request_body(fix, mode))
        except Exception as exc:
            raise self._convert(exc) from None
        repaired = wire.generations(answer, self._where())[0]
        return dataclasses.replace(
            repaired,
            input_tokens=result.input_tokens + repaired.input_tokens,
            output_tokens=result.output_tokens + repaired.output_tokens,
        )

    async def _astream_raw(self, request: RawRequest) -> AsyncIterator[str | RawGeneration]:
        client = await self._ensure_client()
        endpoint = self._endpoint()
        body: dict[str, Any] = {**self.request_body(dataclasses.replace(request, n=1), None), "stream": True}
        if endpoint.stream_options:
            body["stream_options"] = {"include_usage": True}
        pieces: list[str] = []
        finish, usage = None, None
        error: NBLLMError | None = None
        refusal: str | None = None
        try:
            stream = await wire.post_stream(client, request, body)
            async for chunk in stream:
                usage = chunk.get("usage") or usage
                if not chunk.get("choices"):
                    continue
                choice = chunk["choices"][0]
                text = wire.choice_text(choice)
                finish = choice.get("finish_reason") or finish
                if text:
                    pieces.append(text)
                    yield text
        except Exception as exc:
            refusal = refused_request_text(exc)
            error = self._convert(exc)
        if error is not None:
            if not pieces and refusal is not None and "stream_options" in refusal:
                self._learn("stream_options", False, f"refused: {_first_line(refusal)}")
                async for item in self._astream_raw(request):
                    yield item
                return
            raise error
        result = RawGeneration(
            "", (usage or {}).get("prompt_tokens") or 0, (usage or {}).get("completion_tokens") or 0, finish
        )
        if usage is None:
            self._learn("stream_usage", False, "no usage in the stream; nbllm counts the tokens")
            result = await asyncio.to_thread(self._estimated, request, result, "".join(pieces))
        else:
            self._learn("stream_usage", True, "usage in the last chunk")
        (result,) = await self._with_seed_note(request, [result])
        yield result

    def _estimated(
        self, request: RawRequest, result: RawGeneration, text: str | None = None
    ) -> RawGeneration:
        """Token counts by nbllm's own tokenizer where the server sent none (marked as estimated).
        Runs in a worker thread: the embedded tokenizer blocks."""
        if request.prompt is not None:
            prompt_tokens = self.count_tokens(request.prompt)
        else:  # each message's content plus the chat template's few tokens around it
            prompt_tokens = sum(self.count_tokens(m["content"]) + 4 for m in request.messages) + 3
        return dataclasses.replace(
            result,
            input_tokens=prompt_tokens,
            output_tokens=self.count_tokens(result.text if text is None else text),
            tokens_estimated=True,
        )

    async def _with_seed_note(self, request: RawRequest, results: list[RawGeneration]) -> list[RawGeneration]:
        """Say on a seeded answer when the server cannot promise the seed reproduces it."""
        if "seed" not in request.params:
            return results
        note = await self._seed_note()
        if note is None:
            return results
        return [dataclasses.replace(r, notes=(*r.notes, note)) for r in results]

    async def _seed_note(self) -> str | None:
        endpoint = self._endpoint()
        if not endpoint.seed_checked:
            slots = await _parallel_slots(self._where(), self._secrets())
            if slots == 1:
                note, how = None, "the server runs one request at a time"
            elif slots:
                note = f"seed not guaranteed: the server runs {slots} requests at once"
                how = "a seeded sample may differ between runs; nbllm's cache keeps the first answer"
            else:
                note = "seed not guaranteed: the server does not say it reproduces seeded samples"
                how = "servers with parallel slots, and OpenAI, treat seeds as best effort"
            endpoint.seed_note, endpoint.seed_checked = note, True
            endpoint.notes["seed"] = how
        return endpoint.seed_note


def _close_soon(client: Any) -> None:
    """Close a client whose LLM was garbage-collected (its pool lives on nbllm's loop)."""
    try:
        loop.submit(client.close())
    except RuntimeError:
        pass  # the interpreter is shutting down


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 80 else line[:77] + "..."


async def _parallel_slots(base_url: str, secrets: tuple[str, ...]) -> int | None:
    """The number of requests a llama.cpp server runs at once (its /props), or None when the
    server does not say."""
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {secrets[0]}"} if secrets else {}
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{root}/props", headers=headers)
            slots = response.json().get("total_slots") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return slots if isinstance(slots, int) and slots > 0 else None

"""The OpenAI wire format as plain JSON: the body nbllm posts, the answer it reads.

nbllm builds each request body itself (``OpenAILLM.request_body``), so it posts it through the
`openai` client's documented ``post`` and reads the answer as a dict. The client still adds the
key, opens the connections and turns error statuses into its exceptions; what this skips is
its per-request pass over the parameter types and the pydantic models of the answer, which cost
more CPU than everything else nbllm does for a request (benchmarks/clients.py measures it).

A reasoning model's thinking is read here for every backend that speaks this format: from
``reasoning`` (vLLM >= 0.11, OpenRouter, Ollama) or ``reasoning_content`` (older vLLM,
llama.cpp's server, DeepSeek) in messages and stream deltas, else split off the answer where a
server without a reasoning parser leaves it inline; its token count from
``usage.completion_tokens_details.reasoning_tokens``, else estimated from its text.

Runs on the I/O loop: ``post`` and ``post_stream`` await the client there; the rest is pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Protocol

from nbllm.core.thinking import ReasoningDelta, ThinkingSplitter, split_thinking
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import BackendError
from nbllm.llms.token_counts import estimate

REASONING_FIELDS = ("reasoning", "reasoning_content")


class BodyMaker(Protocol):
    """What the helpers that post (stream, structured output's repair) need of an LLM: the body
    it sends for a request, and its token count where a server sends none."""

    def request_body(self, request: RawRequest, structured: str | None = None) -> dict[str, Any]: ...

    def count_tokens(self, text: str) -> int: ...


def path_of(request: RawRequest) -> str:
    """A completion for a rendered prompt, else a chat completion."""
    return "/completions" if request.prompt is not None else "/chat/completions"


async def post(client: Any, request: RawRequest, body: dict[str, Any]) -> Any:
    """The answer to `body` as the server sent it (a dict when it is JSON)."""
    return await client.post(path_of(request), body=body, cast_to=object)


async def post_stream(client: Any, request: RawRequest, body: dict[str, Any]) -> Any:
    """An async iterator of the stream's chunks, each a dict."""
    import openai

    return await client.post(
        path_of(request), body=body, cast_to=object, stream=True, stream_cls=openai.AsyncStream[object]
    )


def choice_text(choice: dict[str, Any]) -> str:
    """A choice's text: a completion's ``text``, a chat answer's message, a chunk's delta."""
    if "text" in choice:
        return choice["text"] or ""
    part = choice.get("message") or choice.get("delta") or {}
    return part.get("content") or ""


def choice_reasoning(choice: dict[str, Any]) -> str | None:
    """The thinking a server's reasoning parser put in a field of its own (None: no such field)."""
    part = choice.get("message") or choice.get("delta") or {}
    for name in REASONING_FIELDS:
        value = part.get(name) if isinstance(part, dict) else None
        if isinstance(value, str):
            return value
    return None


def answer_and_thinking(choice: dict[str, Any]) -> tuple[str, str | None]:
    """A whole choice's answer and thinking, from the reasoning field or split off the text."""
    text, reasoning = choice_text(choice), choice_reasoning(choice)
    if reasoning is not None:
        return text, reasoning.strip()  # as a split-off block is
    return split_thinking(text)


def reported_reasoning_tokens(usage: dict[str, Any]) -> int | None:
    """The thinking tokens a usage block reports (OpenAI's completion_tokens_details)."""
    details = usage.get("completion_tokens_details") or usage.get("output_tokens_details")
    value = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def with_thinking(generation: RawGeneration, reasoning: str | None, reported: int | None) -> RawGeneration:
    """`generation` with its thinking and how many tokens it took: as reported, else estimated:
    the output tokens shared between thinking and answer by their lengths (or, with no output
    count, from the thinking's length)."""
    if reported is not None:
        return dataclasses.replace(generation, reasoning=reasoning or None, reasoning_tokens=reported)
    if not reasoning:
        return dataclasses.replace(generation, reasoning=reasoning)
    if generation.output_tokens:
        share = len(reasoning) / (len(reasoning) + len(generation.text))
        tokens = round(generation.output_tokens * share)
    else:
        tokens = estimate(reasoning).tokens
    return dataclasses.replace(
        generation, reasoning=reasoning, reasoning_tokens=tokens, reasoning_estimated=True
    )


SHARED_PROMPT_NOTE = "one request made several samples: its prompt tokens are counted on the first"


def generations(answer: Any, where: str) -> list[RawGeneration]:
    """One RawGeneration per choice of an answer body. The prompt was billed once, so the first
    choice carries its tokens and the others none; the completion tokens of several choices are
    shared by text length, so they are marked as estimated. No choices at all is the server's
    fault, said plainly."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices:
        raise BackendError(
            f"{where} answered without any choices (body starts {str(answer)[:120]!r}); it may not "
            "be an OpenAI-compatible endpoint, or the model failed: check base_url and the server's log."
        )
    usage = answer.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    reported = reported_reasoning_tokens(usage)
    parts = [answer_and_thinking(c) for c in choices]
    if len(parts) == 1:
        (text, reasoning), choice = parts[0], choices[0]
        one = RawGeneration(text, prompt_tokens, completion, choice.get("finish_reason"))
        return [with_thinking(one, reasoning, reported)]
    lengths = [len(text) + len(reasoning or "") for text, reasoning in parts]
    total_chars = sum(lengths) or 1
    thinking_chars = sum(len(reasoning or "") for _, reasoning in parts)
    results = []
    for i, ((text, reasoning), choice) in enumerate(zip(parts, choices)):
        generation = RawGeneration(
            text,
            prompt_tokens if i == 0 else 0,
            round(completion * lengths[i] / total_chars),
            choice.get("finish_reason"),
            tokens_estimated=True,
            notes=(SHARED_PROMPT_NOTE,),
        )
        share = None
        if reported is not None:  # one total for every choice: shared as their thinking's lengths
            weight = len(reasoning or "") / thinking_chars if thinking_chars else 1 / len(parts)
            share = round(reported * weight)
        results.append(with_thinking(generation, reasoning, share))
    return results


@dataclasses.dataclass
class StreamReader:
    """Reads a stream's chunks: the answer's pieces and the thinking's as they come, then the
    whole generation with the stream's usage."""

    pieces: list[str] = dataclasses.field(default_factory=list)
    thinking: list[str] = dataclasses.field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] | None = None
    _inline: ThinkingSplitter = dataclasses.field(default_factory=ThinkingSplitter)

    def read(self, chunk: dict[str, Any]) -> Iterator[str | ReasoningDelta]:
        """What one chunk adds (only its first choice: nbllm streams one sample)."""
        self.usage = chunk.get("usage") or self.usage
        choices = chunk.get("choices")
        if not choices:
            return
        choice = choices[0]
        self.finish = choice.get("finish_reason") or self.finish
        reasoning = choice_reasoning(choice)
        if reasoning:
            self.thinking.append(reasoning)
            yield ReasoningDelta(reasoning)
        text = choice_text(choice)
        if text:
            yield from self._split(*self._inline.feed(text))

    def close(self) -> Iterator[str | ReasoningDelta]:
        """What an inline block held back when the stream ended."""
        yield from self._split(*self._inline.close())

    def _split(self, answer: str, thinking: str) -> Iterator[str | ReasoningDelta]:
        if thinking:
            self.thinking.append(thinking)
            yield ReasoningDelta(thinking)
        if answer:
            self.pieces.append(answer)
            yield answer

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def generation(self) -> RawGeneration:
        """The whole answer, with the usage the stream sent (zeros where it sent none)."""
        usage = self.usage or {}
        reasoning = "".join(self.thinking).strip() if self.thinking or self._inline.found else None
        result = RawGeneration(
            self.text, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, self.finish
        )
        return with_thinking(result, reasoning, reported_reasoning_tokens(usage))


def has_usage(answer: Any) -> bool:
    return isinstance(answer, dict) and bool(answer.get("usage"))

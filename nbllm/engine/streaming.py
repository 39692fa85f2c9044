"""Streaming on the generate path: a stream is one raw call that also reports text as it comes.

`stream_once` is the raw call the engine retries like any other: it forwards deltas to a sink
and returns the whole generation only when the backend said it finished; a stream that ends
without a finish reason was cut, which is a transient error (and is never cached).
`stream_text` turns that into the text a user iterates: when a retry starts over after text
was already shown, it shows only what the new attempt adds beyond it.

Both run on the I/O loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from nbllm.core.thinking import ReasoningDelta
from nbllm.engine.requests import EngineConfig, RawGeneration, RawRequest, Sink
from nbllm.errors import NBLLMError, StreamInterruptedError, TransientBackendError

if TYPE_CHECKING:
    from nbllm.engine.thunk import ModelOutputThunk

_END = object()


async def stream_once(config: EngineConfig, request: RawRequest, sink: Sink) -> list[RawGeneration]:
    """One attempt at streaming `request`; the answer's deltas go to `sink`, the thinking's are
    gathered into the generation's `reasoning`."""
    assert config.raw_stream is not None
    pieces: list[str] = []
    thinking: list[str] = []
    final: RawGeneration | None = None
    try:
        async for item in config.raw_stream(request):
            if isinstance(item, RawGeneration):
                final = item
            elif isinstance(item, ReasoningDelta):
                thinking.append(item)
                sink(item)
            elif item:
                pieces.append(item)
                sink(item)
    except NBLLMError as exc:
        if pieces or thinking:  # it broke mid-answer: what was received may be billed
            exc.billed = (None, len(pieces) + len(thinking))  # type: ignore[attr-defined]
        raise
    if final is None or final.finish_reason is None:
        cut = TransientBackendError(
            f"the stream ended after {len(pieces)} pieces without saying it was finished; retrying"
        )
        # billed as far as it went: its usage where it came, else the prompt and a token a piece
        prompt, received = (final.input_tokens, final.output_tokens) if final is not None else (0, 0)
        cut.billed = (prompt or None, received or len(pieces))  # type: ignore[attr-defined]
        raise cut
    return [
        dataclasses.replace(
            final,
            text="".join(pieces),
            output_tokens=final.output_tokens or len(pieces) + len(thinking),
            tokens_estimated=final.tokens_estimated or not final.output_tokens,
            reasoning=final.reasoning if final.reasoning is not None else ("".join(thinking) or None),
        )
    ]


async def stream_text(
    start: Callable[[Sink], list[list[ModelOutputThunk]]], thinking: bool = False
) -> AsyncIterator[str]:
    """The text of the one sample `start(sink)` schedules, as it arrives (runs on the I/O loop);
    with `thinking`, a reasoning model's thinking too, as ReasoningDelta pieces before the
    answer's.

    Leaving the iteration early cancels the generation.
    """
    items: asyncio.Queue[Any] = asyncio.Queue()
    io = asyncio.get_running_loop()
    ((thunk,),) = start(items.put_nowait)
    thunk._future.add_done_callback(lambda _: io.call_soon_threadsafe(items.put_nowait, _END))
    shown = ""  # what the user has seen
    attempt = ""  # what the current attempt has said
    thought = False  # some thinking was shown
    try:
        while (item := await items.get()) is not _END:
            if item is None:
                attempt = ""
                continue
            if isinstance(item, ReasoningDelta):
                if thinking and item:
                    thought = True
                    yield item
                continue
            attempt += item
            if len(attempt) > len(shown) and attempt.startswith(shown):
                new, shown = attempt[len(shown) :], attempt
                yield new
        generation = thunk._future.result()
        if generation.error is not None:
            raise generation.error
        if thinking and not thought and generation.reasoning:  # a cache hit's thinking
            yield ReasoningDelta(generation.reasoning)
        text = generation.text or ""
        if not text.startswith(shown):
            raise StreamInterruptedError(
                "the stream was cut and the retried answer does not continue what was shown; the "
                "complete new answer is in llm.last_generation (and in the cache)."
            )
        if len(text) > len(shown):
            yield text[len(shown) :]  # a cache hit, or the rest of a retried answer
    finally:
        if not thunk._future.done():
            thunk.cancel()

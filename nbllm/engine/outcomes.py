"""Recording a sample's outcome, once for every path: the cache first, then the log, the
listeners and the thunk.

A finished generation is written to the cache (on the writer thread) before its thunk
resolves, so what a user holds is already on disk. What fails around it — the cache write,
the log file, a listener — is reported as an NBLLMWarning and never costs the generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nbllm.core.outputs import Generation, GenerationStats
from nbllm.engine import callbacks
from nbllm.engine import sessions as replay
from nbllm.engine.cache_writer import CacheWriter
from nbllm.engine.components import Component
from nbllm.engine.log import EngineLog, LogEntry
from nbllm.engine.requests import EngineConfig, RawGeneration, RawRequest, cache_entry
from nbllm.engine.thunk import ModelOutputThunk
from nbllm.errors import NBLLMError, ParseError, redact


class Recorder:
    """The engine's log, listeners and last generation, and the cache writer it records into."""

    def __init__(self) -> None:
        self.log = EngineLog()
        self.listeners: list[Callable[[Generation], None]] = []
        self.last_generation: Generation | None = None
        self.writer: CacheWriter | None = None

    async def store(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        key: str,
        raw: RawGeneration,
        call_stats: GenerationStats,
        request: RawRequest,
    ) -> None:
        """Record a finished generation: in the cache first (off the loop), then to its thunk.
        A failed write is reported and the generation is returned all the same."""
        stats = GenerationStats(
            input_tokens=raw.input_tokens,
            output_tokens=raw.output_tokens,
            latency=call_stats.latency,
            finish_reason=raw.finish_reason,
            cpu_time=call_stats.cpu_time,
            peak_memory_mb=call_stats.peak_memory_mb,
            attempts=call_stats.attempts,
            tokens_estimated=raw.tokens_estimated,
            reasoning_tokens=raw.reasoning_tokens,
            reasoning_estimated=raw.reasoning_estimated,
        )
        writer = self.writer
        if writer is not None and key and writer.cache.writable:
            written = asyncio.get_running_loop().create_future()
            writer.put(key, cache_entry(raw.text, stats, raw.reasoning), written)
            error = await written
            if error is not None:
                callbacks.report(f"a finished generation could not be cached: {error}")
        self.finish(config, component, thunk, raw.text, stats, request, raw.notes, raw.reasoning)

    def finish(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        text: str,
        stats: GenerationStats,
        request: RawRequest,
        notes: tuple[str, ...] = (),
        reasoning: str | None = None,
    ) -> None:
        generation = Generation(
            text=text, stats=stats, sample_index=thunk.sample_index, notes=notes, reasoning=reasoning
        )
        try:
            generation.parsed = component.parse_output(text)
        except ParseError as exc:
            generation.error = exc
        except Exception as exc:  # a custom component's parser failed: keep the text with the error
            generation.error = ParseError(f"parse_output failed: {type(exc).__name__}: {exc}", text)
        self._record(config, component, thunk, generation, request)

    def fail(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        error: NBLLMError,
        request: RawRequest,
    ) -> None:
        error = redact(error, config.secrets)
        stats = GenerationStats(attempts=getattr(error, "attempts", 1))
        generation = Generation(text=None, stats=stats, sample_index=thunk.sample_index, error=error)
        self._record(config, component, thunk, generation, request)

    def _record(
        self,
        config: EngineConfig,
        component: Component,
        thunk: ModelOutputThunk,
        generation: Generation,
        request: RawRequest,
    ) -> None:
        s = generation.stats
        try:
            self.log.record(
                LogEntry(
                    component_id=component.component_id,
                    sample_index=thunk.sample_index,
                    model=config.model_name,
                    params=request.params,
                    cache_hit=s.cache_hit,
                    latency=s.latency,
                    input_tokens=s.input_tokens,
                    output_tokens=s.output_tokens,
                    error=str(generation.error) if generation.error else None,
                    kind=type(component).__name__,
                    parent_id=component.parent_id,
                )
            )
        except Exception as exc:  # a full disk under the log file must not cost the answer
            callbacks.report(f"the engine log could not be written: {exc}")
        session = replay.active()
        if session is not None:
            try:
                session.observe(config, request, generation)
            except Exception as exc:  # a recording that fails must not cost the answer
                callbacks.report(f"the answer could not be recorded in the replay bundle: {exc}")
        self.last_generation = generation
        for listener in self.listeners:
            callbacks.notify(listener, generation, what="listener")
        thunk._resolve(generation)

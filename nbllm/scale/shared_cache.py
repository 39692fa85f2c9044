"""The parent's cache for work done elsewhere: what a pool need not send (every sample is
cached here), and storing what its members made under this LLM's keys, so a rerun finds it.

Runs on the caller's thread (SQLite reads and writes of the LLM's cache)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from nbllm.core.outputs import GenerateOutput, Generation
from nbllm.engine.requests import cache_entry, cached_stats


def cached(
    llm: Any, inputs: Any, num_generations: int = 1, **overrides: Any
) -> list[Optional[GenerateOutput]]:
    """Per input, its outputs when `llm`'s cache holds every sample, else None. Nothing is
    generated."""
    planned = llm.plan(inputs, num_generations, **overrides)
    components, keys, params = planned.components, planned.keys, planned.params
    cache = llm.engine.cache
    hits = cache.get_many([k for ks in keys for k in ks]) if cache is not None else {}
    outputs: list[Optional[GenerateOutput]] = []
    for component, sample_keys in zip(components, keys):
        if not all(k in hits for k in sample_keys):
            outputs.append(None)
            continue
        generations = [
            Generation(hits[k]["text"], cached_stats(hits[k]), i, reasoning=hits[k].get("reasoning"))
            for i, k in enumerate(sample_keys)
        ]
        outputs.append(GenerateOutput(llm.model_name, generations, component.format_for_llm(), params))
    return outputs


def remember(llm: Any, inputs: Any, outputs: Sequence[GenerateOutput], **overrides: Any) -> None:
    """Store outputs made elsewhere (a child process, a Ray actor) under `llm`'s cache keys.
    Failed samples are not stored."""
    cache = llm.engine.cache
    if cache is None or not outputs:
        return
    num_generations = max(len(o.generations) for o in outputs)
    keys = llm.plan(inputs, num_generations, **overrides).keys
    cache.put_many(
        (sample_keys[g.sample_index], cache_entry(g.text, g.stats, g.reasoning))
        for output, sample_keys in zip(outputs, keys)
        for g in output.generations
        if g.ok and g.sample_index < len(sample_keys)
    )

"""Sampler: run an LLM or a generator over hyper-parameter variants, labelled for comparison."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from nbllm.core.params import GenerationParams
from nbllm.engine import loop
from nbllm.errors import UsageError


@dataclass
class VariantResult:
    """The results of one variant: its label, its parameters and what the target returned."""

    label: str
    params: dict[str, Any]
    results: Any


def grid(**values: list[Any]) -> list[dict[str, Any]]:
    """Every combination of the given values, in order: ``grid(temperature=[0, 1], seed=[1, 2])``."""
    names = list(values)
    for name, options in values.items():
        if not isinstance(options, (list, tuple)) or not options:
            raise UsageError(f"grid value for {name!r} must be a non-empty list.")
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names))]


def label_of(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


class Sampler:
    """Runs `target` (an LLM or a generator) once per variant of generation parameters.

    ``Sampler(llm, temperature=[0.2, 1.0], top_p=[0.5, 1.0])`` samples the grid;
    ``Sampler(llm, variants=[{...}, {...}])`` an explicit list. Variants are validated at once.
    """

    def __init__(
        self, target: Any, variants: list[dict[str, Any]] | None = None, **grid_values: list[Any]
    ) -> None:
        if variants is not None and grid_values:
            raise UsageError("give either variants=[...] or a grid of values, not both.")
        self.variants = (
            list(variants) if variants is not None else grid(**grid_values) if grid_values else [{}]
        )
        for variant in self.variants:
            GenerationParams(**variant)
        self.target = target

    async def arun(self, inputs: Any, num_generations: int = 1, **options: Any) -> list[VariantResult]:
        """All variants, concurrently (the target's own limits apply), in variant order."""
        from nbllm.llms.base import LLM

        async def one(variant: dict[str, Any]) -> VariantResult:
            if isinstance(self.target, LLM):
                results = await self.target.agenerate_many(inputs, num_generations, **options, **variant)
            else:
                results = await self.target.agenerate(inputs, **options, **variant)
            return VariantResult(label_of(variant), variant, results)

        return list(await asyncio.gather(*(one(v) for v in self.variants)))

    def run(self, inputs: Any, num_generations: int = 1, **options: Any) -> list[VariantResult]:
        return loop.run_sync(self.arun(inputs, num_generations, **options))

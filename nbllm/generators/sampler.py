"""Sampler: run an LLM or a generator over hyper-parameter variants, labelled for comparison.

Variants are validated on the caller's thread; ``run`` and ``sample`` wait there while the
variants run on the I/O loop.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from nbllm.core.messages import Input
from nbllm.core.params import GenerationParams
from nbllm.engine import loop
from nbllm.engine.components import Component
from nbllm.engine.thunk import ModelOutputThunk
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

    Both halves are pluggable (mellea's generate protocol): ``_hyper_param_sampler`` chooses the
    variants (the grid by default; override it to draw them at random, say), ``_sampler`` is the
    sampling strategy within one variant (``num_generations`` samples by default; override it for
    best-of-n, rejection sampling, ...). ``await sampler(component)`` runs both on an LLM target
    and returns every sample's thunk, each carrying its variant's parameters.
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

    # -- the pluggable halves ------------------------------------------------------------------
    def _hyper_param_sampler(self) -> list[dict[str, Any]]:
        """The variants to run: the grid or list given (one empty variant: the LLM's own)."""
        return self.variants

    async def _sampler(
        self, llm: Any, component: Component, variant: dict[str, Any], num_generations: int
    ) -> list[ModelOutputThunk]:
        """The samples of one variant: `num_generations` of them, scheduled at once."""
        (thunks,) = llm.submit(component, num_generations, **variant)
        return thunks

    async def __call__(
        self, component: Component | Input, num_generations: int = 1
    ) -> list[ModelOutputThunk]:
        """Every variant's samples of `component` (an input is made a Chat), as thunks."""
        from nbllm.engine.components import Chat
        from nbllm.llms.base import LLM

        if not isinstance(self.target, LLM):
            raise UsageError("calling a Sampler samples an LLM; for a generator use run() or arun().")
        if not isinstance(component, Component):
            component = Chat(component, self.target.effective_system_prompt)
        variants = self._hyper_param_sampler()
        for variant in variants:
            GenerationParams(**variant)
        batches = await asyncio.gather(
            *(self._sampler(self.target, component, v, num_generations) for v in variants)
        )
        return [thunk for batch in batches for thunk in batch]

    def sample(self, component: Component | Input, num_generations: int = 1) -> list[ModelOutputThunk]:
        """``await sampler(component)`` from sync code (also inside Jupyter)."""
        return loop.run_sync(self(component, num_generations))

    # -- results per variant -------------------------------------------------------------------
    async def arun(
        self,
        inputs: Any,
        num_generations: int = 1,
        progress_by_variant: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[VariantResult]:
        """All variants, concurrently (the target's own limits apply), in variant order.
        `progress_by_variant` gives each variant's label its own progress callback."""
        from nbllm.llms.base import LLM

        async def one(variant: dict[str, Any]) -> VariantResult:
            merged = {**options, **variant}  # a variant's own setting wins over a shared option
            if progress_by_variant and progress_by_variant.get(label_of(variant)) is not None:
                merged["progress"] = progress_by_variant[label_of(variant)]
            if isinstance(self.target, LLM):
                results = await self.target.agenerate_many(inputs, num_generations, **merged)
            else:
                results = await self.target.agenerate(inputs, **merged)
            return VariantResult(label_of(variant), variant, results)

        return list(await asyncio.gather(*(one(v) for v in self._hyper_param_sampler())))

    def run(
        self,
        inputs: Any,
        num_generations: int = 1,
        progress_by_variant: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[VariantResult]:
        return loop.run_sync(self.arun(inputs, num_generations, progress_by_variant, **options))

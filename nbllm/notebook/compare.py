"""compare(): the same inputs over several LLMs, parameter sets or generators, side by side."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from nbllm.errors import UsageError


@dataclass
class Comparison:
    """The long table (one row per generation), the wide table (one column per variant) and a
    tokens-per-second plot. Unpacks as ``wide, figure = compare(...)``."""

    frame: Any
    wide: Any
    figure: Any

    def __iter__(self):
        return iter((self.wide, self.figure))

    def _repr_html_(self) -> str:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        image = base64.b64encode(buffer.getvalue()).decode()
        return self.wide.to_html(index=False) + f'<img src="data:image/png;base64,{image}"/>'


def compare(
    inputs: Any,
    *,
    llms: list[Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    generators: list[Any] | None = None,
    llm: Any = None,
    num_generations: int = 1,
) -> Comparison:
    """Run `inputs` through each LLM, each parameter set (on `llm`) or each generator."""
    import pandas as pd

    from nbllm.generators.sampler import Sampler, label_of
    from nbllm.notebook.frames import to_dataframe, to_wide
    from nbllm.notebook.plots import plot_tokens_per_second

    chosen = [x for x in (llms, params, generators) if x]
    if len(chosen) != 1:
        raise UsageError("compare needs exactly one of llms=[...], params=[...] or generators=[...].")
    frames = []
    if params:
        from nbllm.llms.default import default_llm

        target = llm if llm is not None else default_llm()
        frames.append(to_dataframe(Sampler(target, variants=params).run(inputs, num_generations)))
        labels = [label_of(p) for p in params]
    elif llms:
        labels = _unique([m.model_name for m in llms])
        for model, label in zip(llms, labels):
            frames.append(to_dataframe(model.generate(inputs, num_generations), variant=label))
    else:
        labels = _unique([g.name for g in generators or []])
        for generator, label in zip(generators or [], labels):
            frames.append(to_dataframe(generator.generate(inputs), variant=label))
    frame = pd.concat(frames, ignore_index=True)
    wide = to_wide(frame, by="variant")
    wide = wide[[c for c in wide.columns if c not in labels] + [c for c in labels if c in wide.columns]]
    return Comparison(frame, wide, plot_tokens_per_second(frame, by="variant"))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out

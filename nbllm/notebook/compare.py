"""compare(): the same inputs over several LLMs, parameter sets or generators, side by side.

Runs on the caller's thread, which waits while the generations run on the I/O loop.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Any

from nbllm.errors import UsageError


@dataclass
class Comparison:
    """The long table (one row per generation), the wide table (one column per variant), a
    plot of what differs between the variants, and the models and shared options used.
    Unpacks as ``wide, figure = compare(...)``."""

    frame: Any
    wide: Any
    figure: Any
    models: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def long(self) -> Any:
        """One row per generation (the same as ``frame``)."""
        return self.frame

    def __iter__(self):
        return iter((self.wide, self.figure))

    @property
    def caption(self) -> str:
        shared = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"Compared on {', '.join(self.models)}" + (f" · shared options: {shared}" if shared else "")

    def _repr_html_(self) -> str:
        from nbllm.notebook.html import wide_html

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        image = base64.b64encode(buffer.getvalue()).decode()
        return (
            wide_html(self.wide, caption=self.caption)
            + f'<img alt="{html.escape(self.caption)}" src="data:image/png;base64,{image}"/>'
        )


def compare(
    inputs: Any,
    *,
    llms: list[Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    generators: list[Any] | None = None,
    llm: Any = None,
    num_generations: int = 1,
    **options: Any,
) -> Comparison:
    """Run `inputs` through each LLM, each parameter set (on `llm`, by default nbllm's default
    LLM: the output names it) or each generator. Generation options (``max_tokens=30``, ...)
    apply to every run; a parameter set's own value wins over them."""
    import pandas as pd

    from nbllm.generators.sampler import Sampler, label_of
    from nbllm.notebook.frames import to_dataframe, to_wide
    from nbllm.notebook.plots import plot_comparison

    chosen = [x for x in (llms, params, generators) if x]
    if len(chosen) != 1:
        raise UsageError("compare needs exactly one of llms=[...], params=[...] or generators=[...].")
    frames = []
    if params:
        from nbllm.llms.default import default_llm

        target = llm if llm is not None else default_llm()
        frames.append(to_dataframe(Sampler(target, variants=params).run(inputs, num_generations, **options)))
        labels = [label_of(p) for p in params]
        models = [target.model_name]
    elif llms:
        labels = _unique([m.model_name for m in llms])
        for model, label in zip(llms, labels):
            frames.append(to_dataframe(model.generate(inputs, num_generations, **options), variant=label))
        models = labels
    else:
        labels = _unique([g.name for g in generators or []])
        for generator, label in zip(generators or [], labels):
            frames.append(to_dataframe(generator.generate(inputs, **options), variant=label))
        models = list(dict.fromkeys(g.llm.model_name for g in generators or [] if getattr(g, "llm", None)))
    frame = pd.concat(frames, ignore_index=True)
    wide = to_wide(frame, by="variant")
    wide = wide[[c for c in wide.columns if c not in labels] + [c for c in labels if c in wide.columns]]
    return Comparison(frame, wide, plot_comparison(frame, by="variant"), models, dict(options))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out

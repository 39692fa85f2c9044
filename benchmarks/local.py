"""Figures 4, 6, 7 and 11: the process pool, import time, DataFrames, Ray."""

from __future__ import annotations

import subprocess
import sys
import time

import nbllm
from benchmarks.common import Figure, measure
from nbllm.core.outputs import GenerateOutput, Generation, GenerationStats

PROMPTS = [f"Write two sentences about the number {i}." for i in range(8)]
MAX_TOKENS = 64


def _tokens_per_second(fn) -> float:
    t0 = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - t0)


def _single_threaded():
    import nbllm

    return nbllm.LlamaCppLLM(n_threads=1, n_threads_batch=1, cache=False)


def pool_figure() -> Figure:
    """Figure 4: two single-threaded ProcessLLMs against one two-threaded LlamaCppLLM."""
    from nbllm import LLMPool, ProcessLLM

    prompts = [
        f"Tell a short story about a {w}."
        for w in "cat dog fox owl bee ant elk cow pig hen yak ram eel cod emu gnu".split()
    ]
    single = nbllm.LlamaCppLLM(n_threads=2, n_threads_batch=2, cache=False)
    single.load()
    pool = LLMPool([ProcessLLM(_single_threaded), ProcessLLM(_single_threaded)], seed=0)
    try:
        assert pool.model_name

        def count(outputs) -> int:
            return sum(g.stats.output_tokens for o in outputs for g in o.generations if g.ok)

        pooled, alone = [], []
        for _ in range(2):
            pooled.append(
                _tokens_per_second(
                    lambda: count(
                        pool.generate(prompts, num_generations=2, max_tokens=MAX_TOKENS, fresh=True)
                    )
                )
            )
            alone.append(
                _tokens_per_second(
                    lambda: count(single.generate(prompts, num_generations=2, max_tokens=MAX_TOKENS))
                )
            )
    finally:
        pool.teardown()
    p, s = max(pooled), max(alone)
    return Figure(
        "4 tokens/s, LLMPool of 2 x 1-thread vs one 2-thread LLM (16 prompts x 2)",
        p,
        s,
        "tok/s",
        ">= 1.3x",
        p >= 1.3 * s,
    )


def import_figure() -> Figure:
    """Figure 6: `import nbllm` in a fresh interpreter, against `python -c pass`."""

    def best_of(code: str) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        return min(times)

    base, with_nbllm = best_of("pass"), best_of("import nbllm")
    extra = with_nbllm - base
    return Figure(
        "6 import nbllm (extra seconds over python -c pass)",
        with_nbllm,
        base,
        "s",
        "< 0.3 s extra",
        extra < 0.3,
        f"extra {extra:.3f}s",
    )


def dataframe_figure() -> Figure:
    """Figure 7: 100,000 generations to a DataFrame."""
    outputs = [
        GenerateOutput(
            "m",
            [Generation(f"text {i}-{j}", GenerationStats(12, 9, 0.05, "stop"), j) for j in range(10)],
            ({"role": "user", "content": f"question {i}"},),
            {"temperature": 0.7},
        )
        for i in range(10_000)
    ]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        frame = nbllm.to_dataframe(outputs)
        times.append(time.perf_counter() - t0)
    assert len(frame) == 100_000
    # baseline: pandas building a frame of the same rows from plain dicts
    t0 = time.perf_counter()
    import pandas as pd

    pd.DataFrame(
        [
            {"input": f"question {i}", "generation": g.text}
            for i, o in enumerate(outputs)
            for g in o.generations
        ]
    )
    baseline = time.perf_counter() - t0
    return Figure(
        "7 100,000 generations to a DataFrame (vs a 2-column dict-per-row frame)",
        min(times),
        baseline,
        "s",
        "< 1 s",
        min(times) < 1.0,
    )


def ray_figures() -> list[Figure]:
    """Figures 11a-c: a pool of 2 Ray actors (local cluster, 2 CPUs) against the local LLMPool of
    2 processes and against one 2-thread process, on the same 16 prompts, in the same run."""
    import pandas as pd
    import ray

    from nbllm import LLMPool, ProcessLLM

    prompts = [
        f"Tell a short story about a {w}."
        for w in "cat dog fox owl bee ant elk cow pig hen yak ram eel cod emu gnu".split()
    ]
    frame = pd.DataFrame({"prompt": prompts})
    params = {"max_tokens": MAX_TOKENS, "temperature": 0.0}
    single = nbllm.LlamaCppLLM(n_threads=2, n_threads_batch=2, cache=False)
    single.load()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    local = LLMPool([ProcessLLM(_single_threaded), ProcessLLM(_single_threaded)])
    on_ray = LLMPool.on_ray(_single_threaded, num_replicas=2, num_cpus=1)
    try:
        assert local.model_name and on_ray.model_name  # loaded before the clock starts

        def table(pool: LLMPool) -> object:
            return pool.generate_frame(frame, chunk_size=2, progress=False, **params)

        timings: dict[str, list[float]] = {"ray": [], "local": [], "single": []}
        for _ in range(2):
            timings["ray"].append(measure(lambda: table(on_ray)).wall)
            timings["local"].append(measure(lambda: table(local)).wall)
            timings["single"].append(measure(lambda: single.generate(prompts, **params)).wall)
    finally:
        on_ray.teardown()
        local.teardown()
        ray.shutdown()
    r, lo, s = (min(timings[k]) for k in ("ray", "local", "single"))
    overhead_ms = (r - lo) / len(prompts) * 1000
    return [
        Figure(
            "11a wall, LLMPool.on_ray (2 actors) vs local LLMPool (2 processes), 16 prompts",
            r, lo, "s", "<= 1.25x", r <= 1.25 * lo,
            f"Ray's overhead: {overhead_ms:+.0f} ms per request (chunks of 2)",
        ),
        Figure(
            "11b wall, LLMPool.on_ray (2 actors) vs one 2-thread process, 16 prompts",
            r, s, "s", "report", True, "on 2 cores: parallel decoding against one process's two threads",
        ),
    ]  # fmt: skip

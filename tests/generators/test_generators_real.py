"""Every generator, the pool and the sampler on the embedded model and on the local server."""

from __future__ import annotations

import os
import time

import pytest
from pydantic import BaseModel

import nbllm
from nbllm import WorkerDiedError
from nbllm.generators import (
    AsyncGenerator,
    ExampleGenerator,
    Generator,
    Job,
    JobSettings,
    LLMPool,
    MajorVoteGenerator,
    MultiThreadingAsyncGenerator,
    ProcessLLM,
    Sampler,
    SequentialAsyncGenerator,
    SequentialAsyncGenerator2,
)

pytestmark = pytest.mark.slow


class Capital(BaseModel):
    capital: str


CAPITALS = Job(
    instruction="Give the capital city of the country.",
    template="Country: {country}",
    output_schema=Capital,
    params={"max_tokens": 30},
)
FREE = Job(instruction="Answer in a few words.", template="{question}", params={"max_tokens": 20})


@pytest.fixture(params=["embedded", "server"])
def llm(request: pytest.FixtureRequest, tmp_path):
    if request.param == "embedded":
        return nbllm.LlamaCppLLM(cache_path=str(tmp_path / "c.sqlite3"))
    return request.getfixturevalue("server_llm")


def test_simple_and_async_generators(llm) -> None:
    one = Generator(FREE, llm).generate("What is 2 + 2?")
    assert one.ok and one.text and one.model == llm.model_name
    runs = AsyncGenerator(FREE, llm, num_runs=3).generate("Name a colour.")
    assert len(runs) == 3 and all(r.ok for r in runs)
    per_input = AsyncGenerator(FREE, llm, num_runs=2).generate(["Name a fruit.", "Name a tree."])
    assert [len(r) for r in per_input] == [2, 2]


def test_sequential_generators(llm) -> None:
    questions = ["Name a city.", "Name a river.", "Name a song."]
    first = SequentialAsyncGenerator(FREE, llm, num_runs=2).generate(questions)
    second = SequentialAsyncGenerator2(FREE, llm, num_runs=2, max_concurrency=4).generate(questions)
    assert [len(r) for r in first] == [len(r) for r in second] == [2, 2, 2]
    # the same inputs, parameters and run numbers: the second generator reuses the cached samples
    assert [[r.text for r in rs] for rs in second] == [[r.text for r in rs] for rs in first]


def test_multithreading_variants(llm) -> None:
    settings = [
        JobSettings(name="cold", params={"temperature": 0.0}),
        JobSettings(name="warm", params={"temperature": 0.9}),
    ]
    results = MultiThreadingAsyncGenerator(FREE, llm, job_settings=settings).generate(
        ["Name a planet.", "Name a metal."]
    )
    assert [[runs[0].variant for runs in per_input] for per_input in results] == [["cold", "warm"]] * 2
    assert [per_input[0][0].input_index for per_input in results] == [0, 1]
    assert all(r.ok for v in results for rs in v for r in rs)


def test_majority_vote_on_structured_output(llm) -> None:
    vote = MajorVoteGenerator(CAPITALS, llm, num_votes=3, temperature=0.0).generate({"country": "France"})
    assert isinstance(vote.winner, Capital) and vote.winner.capital
    assert vote.reliability == 1.0 and vote.decided_by == "majority"  # greedy decoding agrees with itself


def test_example_generator(llm) -> None:
    records = ExampleGenerator(CAPITALS, llm, num_votes=2).generate(2)
    assert len(records) == 2
    good = [r for r in records if r.ok]
    assert good, records
    assert set(good[0].input) == {"country"} and isinstance(good[0].output, Capital)
    assert 0 < good[0].reliability <= 1
    CAPITALS.model_copy(deep=True).add_examples([r.to_example() for r in good])


def test_sampler_over_the_real_model(llm) -> None:
    results = Sampler(llm, temperature=[0.0, 1.0]).run("Name an animal.", max_tokens=10)
    assert [r.label for r in results] == ["temperature=0.0", "temperature=1.0"]
    assert all(r.results[0].generations[0].ok for r in results)


def test_pluggable_sampler_returns_thunks_per_variant(llm) -> None:
    import random

    class RandomTemperatures(Sampler):
        """Variants drawn at random, and a strategy that keeps sampling until an answer is non-empty."""

        def _hyper_param_sampler(self) -> list[dict]:
            rng = random.Random(3)
            return [{"temperature": round(rng.uniform(0.1, 1.2), 2), "seed": i} for i in range(3)]

        async def _sampler(self, llm, component, variant, num_generations):
            thunks = await super()._sampler(llm, component, variant, num_generations)
            for thunk in list(thunks):
                if not (await thunk).text:
                    thunks += await super()._sampler(llm, component, variant, 1)
            return thunks

    sampler = RandomTemperatures(llm)
    thunks = sampler.sample("Name an animal.", num_generations=2)
    drawn = sampler._hyper_param_sampler()
    assert len(thunks) >= 6
    assert [t.params["temperature"] for t in thunks[:6]] == [v["temperature"] for v in drawn for _ in (0, 1)]
    assert all(t.result().ok for t in thunks)
    # the default halves: the grid, num_generations samples each
    plain = Sampler(llm, temperature=[0.0, 0.7]).sample("Name a fruit.", num_generations=2)
    assert [t.params["temperature"] for t in plain] == [0.0, 0.0, 0.7, 0.7]
    assert [t.sample_index for t in plain] == [0, 1, 0, 1]


def test_log_dag_links_votes_to_grading_and_examples_to_their_answers(llm) -> None:
    grader = MajorVoteGenerator(FREE, llm, num_votes=3, mode="grade", temperature=1.0, seed=1)
    vote = grader.generate("Name a colour.")
    dag = llm.engine.log.dag()
    calls = [n for n, kind in dag.nodes.items() if kind == "JobCall"]
    graded = [c for c in calls if dag.children(c)]
    assert graded, "no grading was linked to the call whose answers it graded"
    assert vote.decided_by == "grade"
    assert all(dag.nodes[child] == "Chat" for child in dag.children(graded[-1]))
    assert len(dag.children(graded[-1])) == len(vote.votes)  # one grading per distinct candidate

    records = ExampleGenerator(CAPITALS, llm, num_votes=2).generate(2)
    dag = llm.engine.log.dag()
    writers = [n for n, kind in dag.nodes.items() if kind == "Chat" and dag.children(n)]
    writer = writers[-1]
    answered = dag.children(writer)
    assert len(answered) == sum(r.error is None and r.input is not None for r in records) > 0
    assert all(dag.nodes[c] == "JobCall" for c in answered)
    assert dag.parents(answered[0]) == [writer] and writer in dag.roots()


def _load_single_threaded():
    import nbllm

    return nbllm.LlamaCppLLM(n_threads=1)


def test_pool_of_real_child_processes() -> None:
    pool = LLMPool([ProcessLLM(_load_single_threaded), ProcessLLM(_load_single_threaded)], seed=0)
    try:
        assert pool.model_name == "SmolLM2-135M-Instruct"
        outputs = pool.generate(["Say hi.", "Say bye."], num_generations=3, max_tokens=10)
        for output in outputs:
            assert [g.sample_index for g in output.generations] == [0, 1, 2]
            assert all(g.ok and g.text for g in output.generations)
    finally:
        pool.teardown()
    assert not any(llm.is_alive for llm in pool.llms)


def test_a_pool_draws_every_sample_once() -> None:
    pool = LLMPool([ProcessLLM(_load_single_threaded), ProcessLLM(_load_single_threaded)], seed=0)
    try:
        # seeded: each member derives its samples' seeds from the call's sample index it was given
        (output,) = pool.generate("Invent a name for a new planet.", num_generations=6, temperature=1.2,
                                  max_tokens=16, seed=11, fresh=True)  # fmt: skip
    finally:
        pool.teardown()
    texts = [g.text for g in output.generations]
    assert [g.sample_index for g in output.generations] == list(range(6))
    assert all(g.ok for g in output.generations) and len(set(texts)) >= 5, texts  # no pairs


def test_killed_child_fails_its_futures_and_does_not_hang() -> None:
    member = ProcessLLM(_load_single_threaded)
    try:
        assert member.model_name
        future = member.generate("Tell a very long story about the sea.", max_tokens=400, fresh=True)
        time.sleep(0.3)
        os.kill(member.pid, 9)
        with pytest.raises(WorkerDiedError, match="died"):
            future.result(timeout=20)
        with pytest.raises(WorkerDiedError):
            member.generate("again").result(timeout=5)
    finally:
        member.teardown()


def test_child_errors_reach_the_parent_intact() -> None:
    member = ProcessLLM(_load_single_threaded)
    try:
        (output,) = member.generate("hi", max_tokens=5).result(timeout=60)
        assert output.generations[0].ok
        from nbllm import InvalidParameterError

        # raised inside the child's engine, pickled, and re-raised here with its type and field
        with pytest.raises(InvalidParameterError, match="unknown generation parameter 'logit_bias'") as info:
            member.generate("hi", logit_bias=None).result(timeout=60)
        assert info.value.field == "logit_bias"
    finally:
        member.teardown()


def _load_missing_file():
    import nbllm

    return nbllm.LlamaCppLLM(model_path="/nonexistent/model.gguf")


def test_child_that_cannot_load_reports_why() -> None:
    from nbllm import ModelNotFoundError

    member = ProcessLLM(_load_missing_file)
    try:
        with pytest.raises(ModelNotFoundError, match="no GGUF model file"):
            _ = member.model_name
    finally:
        member.teardown()


def test_pool_of_openai_backends(llama_server: str) -> None:
    def load():
        import nbllm

        return nbllm.OpenAILLM(model="smollm2", base_url=llama_server, cache=False)

    pool = LLMPool([ProcessLLM(load), ProcessLLM(load)], seed=1)
    try:
        (output,) = pool.generate("Name a colour.", num_generations=3, max_tokens=8)
        assert [g.sample_index for g in output.generations] == [0, 1, 2]
        assert all(g.ok and g.text for g in output.generations)
        assert output.model_name == "smollm2"
    finally:
        pool.teardown()

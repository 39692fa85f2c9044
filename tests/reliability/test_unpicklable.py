"""What cannot be pickled never hangs a pool call: the request is pickled before it is sent and
the answer before it is sent back, so a callback holding something unpicklable, or an answer the
parent cannot read, fails its own call with a clear nbllm error, and the next call still works.
Real child processes with the embedded model."""

from __future__ import annotations

import pytest

import nbllm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _load_embedded():
    import nbllm

    return nbllm.LlamaCppLLM(n_threads=1, concurrency=2, cache=False)


class _Endless:
    """A generator whose answer is a live Python generator: nothing can pickle that."""

    def __init__(self, llm) -> None:
        self.llm = llm

    def generate(self, inputs, **params):
        self.llm.generate(inputs, max_tokens=2)
        return (x for x in inputs)


@pytest.fixture(scope="module")
def member():
    with nbllm.ProcessLLM(_load_embedded) as member:
        assert member.model_name
        yield member


def test_an_option_that_cannot_be_pickled_fails_its_call_at_once(member: nbllm.ProcessLLM) -> None:
    live = (i for i in range(3))  # a generator: neither pickle nor dill can send it
    future = member.generate(["Say hi."], progress=lambda done, total, live=live: None, max_tokens=4)
    with pytest.raises(nbllm.BackendError, match="could not be sent to the child process"):
        future.result(timeout=30)
    (after,) = member.generate(["Say hi."], max_tokens=4).result(timeout=120)
    assert after.generations[0].ok  # the bridge and the child carry on


def test_an_answer_that_cannot_be_sent_back_fails_its_call(member: nbllm.ProcessLLM) -> None:
    future = member.run_generator(_Endless, ["Say hi."])
    with pytest.raises(nbllm.BackendError, match="the answer could not be sent to the parent process"):
        future.result(timeout=120)
    (after,) = member.generate(["Name a colour."], max_tokens=4).result(timeout=120)
    assert after.generations[0].ok


def test_a_pool_call_with_an_unpicklable_option_returns() -> None:
    pool = nbllm.LLMPool([nbllm.ProcessLLM(_load_embedded)])
    try:
        live = (i for i in range(3))
        outputs = pool.generate(["Say hi.", "Say bye."], progress=lambda d, t, live=live: None, max_tokens=4)
        errors = [g.error for o in outputs for g in o.generations]
        assert len(errors) == 2 and all(isinstance(e, nbllm.BackendError) for e in errors), errors
        assert all("could not be sent to the child process" in str(e) for e in errors)
    finally:
        pool.teardown()


def test_an_interrupted_table_keeps_every_finished_chunk(tmp_path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"prompt": [f"Name the number {i}." for i in range(6)]})
    cache_llm = nbllm.LlamaCppLLM(n_threads=1, concurrency=2, cache_path=str(tmp_path / "c.sqlite3"))
    pool = nbllm.LLMPool([nbllm.ProcessLLM(_load_embedded)])
    try:

        def interrupt(done: int, total: int) -> None:
            if done >= 2:
                raise KeyboardInterrupt  # what "interrupt kernel" does after the first chunk

        with pytest.raises(KeyboardInterrupt):
            pool.generate_frame(frame, chunk_size=2, cache_llm=cache_llm, progress=interrupt, max_tokens=4)
        again = pool.generate_frame(frame, chunk_size=2, cache_llm=cache_llm, progress=False, max_tokens=4)
        assert again.attrs["rows_from_cache"] == 2 and again.attrs["rows_sent"] == 4
    finally:
        pool.teardown()

"""The LLM facade: which thread runs what, and the conversation it holds (scripted backends:
these test nbllm's own logic, not a model)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import nbllm
from nbllm.engine.requests import RawGeneration
from tests.scripted import ScriptedLLM


class ThreadRecording(nbllm.LLM):
    """A blocking backend that notes the thread of its readiness check and of each raw call."""

    ready_on: list[str] = []
    called_on: list[str] = []

    @property
    def model_name(self) -> str:
        return "thread-recording"

    def _check_ready(self) -> None:
        self.ready_on.append(threading.current_thread().name)

    def _generate_raw(self, request):
        self.called_on.append(threading.current_thread().name)
        return [RawGeneration("ok", 1, 1, "stop")]


def test_a_call_is_validated_on_the_callers_thread_and_a_blocking_backend_runs_on_its_own() -> None:
    llm = ThreadRecording(cache=False, concurrency=2)
    llm.ready_on.clear()
    llm.called_on.clear()
    llm.generate(["a", "b", "c"])
    assert llm.ready_on == [threading.current_thread().name]
    assert len(llm.called_on) == 3
    assert all(name.startswith("nbllm-backend") for name in llm.called_on), llm.called_on
    assert len(set(llm.called_on)) <= 2  # bounded by the LLM's concurrency


def test_bad_input_fails_before_the_io_loop_sees_it(scripted: ScriptedLLM) -> None:
    with pytest.raises(nbllm.InvalidParameterError, match="num_generations"):
        scripted.generate("hi", num_generations=0)
    with pytest.raises(nbllm.InvalidInputError):
        scripted.generate([{"role": "user"}])
    assert scripted.requests == []


def test_a_history_that_does_not_continue_the_conversation_starts_a_branch(scripted: ScriptedLLM) -> None:
    seen: list[int] = []
    scripted.observe(lambda name, value: name == "history" and seen.append(len(value)))
    first = scripted.chat("Hello")
    assert scripted.history[-1] == {"role": "assistant", "content": first}
    scripted.chat("And again")  # a continuation: the same branch grows
    assert len(scripted.conversation.branches) == 1 and len(scripted.history) == 4
    scripted.history = []  # not a continuation: a new branch, the old one kept
    assert scripted.conversation.branches[0][0]["content"] == "Hello"
    assert scripted.history == [] and scripted.conversation.current == 1
    scripted.conversation.switch(0)
    assert len(scripted.history) == 4
    assert seen == [2, 4, 0, 4]  # each change notified once
    with pytest.raises(nbllm.InvalidInputError, match="history\\[0\\]"):
        scripted.history = [{"role": "user"}]
    with pytest.raises(nbllm.InvalidInputError, match="no branch 5"):
        scripted.conversation.switch(5)


def test_a_checkpoint_keeps_every_branch(scripted: ScriptedLLM, tmp_path: Path) -> None:
    scripted.chat("Hello")
    scripted.history = [{"role": "user", "content": "another start"}]
    path = scripted.save_checkpoint(tmp_path / "chat.json")
    restored = ScriptedLLM.from_checkpoint(path, cache=False)
    assert restored.conversation.branches == scripted.conversation.branches
    assert restored.history == [{"role": "user", "content": "another start"}]
    fresh = ScriptedLLM(cache=False).load_checkpoint(path)
    assert len(fresh.conversation.branches) == 2


def test_a_blocking_backend_is_loaded_once_however_many_threads_ask() -> None:
    import time

    class SlowLoad(nbllm.LLM):
        loads: list[float] = []
        loaded: bool = False

        @property
        def model_name(self) -> str:
            return "slow-load"

        def load(self) -> None:
            if not self.loaded:
                self.loads.append(time.monotonic())
                time.sleep(0.2)  # the load's own work; a second thread must not start one meanwhile
                self.loaded = True

        def _generate_raw(self, request):
            return [RawGeneration("ok", 1, 1, "stop")]

    from nbllm.engine import loop

    llm = SlowLoad(cache=False, concurrency=8)
    # submitted on nbllm's own loop (as generators do): the readiness check leaves the load to
    # the raw calls, eight of them at once on the backend's threads
    outputs = loop.run_sync(llm.agenerate_many([f"q{i}" for i in range(8)]))
    assert all(o.generations[0].ok for o in outputs)
    assert len(llm.loads) == 1, llm.loads
    llm.concurrency = 2  # the backend's pool follows
    assert llm._blocking is None


def test_a_copy_is_a_separate_llm(tmp_path: Path) -> None:
    """`model_copy` used to share the parameters, engine, listeners and conversation, and to
    drop an updated generation parameter: a change to the copy reached the original."""
    llm = ScriptedLLM(temperature=0.2, concurrency=4, cache_path=str(tmp_path / "c.sqlite3"))
    llm.history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    heard: list[str] = []
    llm.observe(lambda name, _: heard.append(name))
    copy = llm.model_copy(update={"temperature": 1.0, "system_prompt": "Be brief."})
    assert (copy.params.temperature, llm.params.temperature) == (1.0, 0.2)
    assert copy.concurrency == 4 and copy.cache_path == llm.cache_path and copy.history == llm.history
    copy.params.top_p = 0.5
    copy.concurrency = 2
    copy.history = []
    copy.run("one more")
    assert llm.params.top_p is None and llm.concurrency == 4 and len(llm.history) == 2
    assert copy.engine is not llm.engine and heard == []  # the original's listeners heard nothing
    assert llm.system_prompt is None
    with pytest.raises(nbllm.InvalidParameterError) as info:
        llm.model_copy(update={"temperature": 9})
    assert info.value.field == "temperature"
    key = nbllm.OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1", api_key="sk-copy-test")
    other = key.model_copy(update={"model": "n"})
    assert other.model == "n" and other.api_key.get_secret_value() == "sk-copy-test"
    assert "sk-copy-test" not in repr(other)


def test_a_checkpoint_from_before_the_backends_moved_still_loads(tmp_path) -> None:
    import json

    llm = nbllm.OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1", temperature=0.3)
    path = llm.save_checkpoint(tmp_path / "old.json")
    record = json.loads(path.read_text())
    assert record["class"] == "nbllm.llms.openai.llm:OpenAILLM"
    record["class"] = "nbllm.llms.openai_compatible:OpenAILLM"  # where it lived before
    path.write_text(json.dumps(record))
    again = nbllm.LLM.from_checkpoint(path)
    assert isinstance(again, nbllm.OpenAILLM) and again.params.temperature == 0.3
    record["class"] = "nbllm.llms.gone:NoSuchLLM"
    path.write_text(json.dumps(record))
    with pytest.raises(nbllm.UsageError, match="does not have"):
        nbllm.LLM.from_checkpoint(path)

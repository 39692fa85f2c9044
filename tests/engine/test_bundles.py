"""Replay bundles, as pure logic: what is written, what is served, what is refused. A scripted
backend stands in for the model (the real servers and kernels: tests/notebook/test_lessons.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel

import nbllm
from nbllm.engine import sessions
from tests.scripted import ScriptedLLM


@pytest.fixture(autouse=True)
def _no_session_left() -> None:
    yield
    session = sessions.active()
    if session is not None:
        sessions.close_session(session)
    assert sessions.active() is None


class Answer(BaseModel):
    """A structured answer, for the tests of schemas."""

    word: str


class KeyedLLM(ScriptedLLM):
    """A scripted backend with an API key, as OpenAILLM has (its secrets)."""

    KEY: ClassVar[str] = "sk-secret-bundle-key-123456"

    def _secrets(self) -> tuple[str, ...]:
        return (self.KEY,)


def entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())["entries"]


def test_a_recording_holds_each_answer_and_a_replay_serves_it_without_calling(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    with nbllm.record(path) as recording:
        live = llm.generate(["one", "two"], num_generations=2, seed=5)
    assert len(recording) == 4
    saved = entries(path)
    assert {(e["messages"][-1]["content"], e["sample_index"]) for e in saved} == {
        ("one", 0),
        ("one", 1),
        ("two", 0),
        ("two", 1),
    }
    assert {e["seed"] for e in saved} == {5}  # the seed the cell asked for
    calls = len(llm.requests)
    with nbllm.replay(path) as replayed:
        again = llm.generate(["one", "two"], num_generations=2, seed=5)
    assert len(llm.requests) == calls, "a replayed answer must not reach the backend"
    assert [o.texts for o in again] == [o.texts for o in live]
    assert all(g.stats.recorded for o in again for g in o.generations)
    assert not any(g.stats.recorded for o in live for g in o.generations)
    frame = nbllm.to_dataframe(again)
    assert frame["recorded"].dtype == bool and frame["recorded"].all()
    assert not nbllm.to_dataframe(live)["recorded"].any()
    assert "recorded" in nbllm.show(again).data
    assert replayed._session.served == 4


def test_a_prompt_the_bundle_lacks_fails_its_own_row_and_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    with nbllm.record(path):
        llm.generate("one", temperature=0.2)
    with nbllm.replay(path):
        (held, other) = llm.generate(["one", "never recorded"], temperature=0.2)
        (changed,) = llm.generate(["one"], temperature=0.9)
    assert held.generations[0].ok and held.generations[0].stats.recorded
    error = other.generations[0].error
    assert isinstance(error, nbllm.NotRecordedError)
    assert "never recorded" in str(error) and "fallback='embedded'" in str(error)
    assert "temperature=0.2" in str(changed.generations[0].error)  # it holds other settings


def test_a_fallback_answers_what_was_not_recorded_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    recorder, fallback = ScriptedLLM(cache=False), ScriptedLLM(cache=False)
    with nbllm.record(path):
        recorder.generate("one")
    with nbllm.replay(path, fallback=fallback):
        (held, missing) = recorder.generate(["one", "two"])
    assert held.generations[0].stats.recorded
    answer = missing.generations[0]
    assert answer.ok and not answer.stats.recorded
    assert any("not in lesson.nbllm: answered by scripted" in n for n in answer.notes)
    assert len(fallback.requests) == 1 and fallback.requests[0].messages[-1]["content"] == "two"


def test_compare_runs_live_and_names_the_answers_that_drifted(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    llm.enqueue("recorded answer", "steady")
    with nbllm.record(path):
        llm.generate(["one", "two"])
    llm.enqueue("a new answer", "steady")
    with nbllm.replay(path, compare=True) as compared:
        outputs = llm.generate(["one", "two"])
    assert [o.texts[0] for o in outputs] == ["a new answer", "steady"]
    drift = compared.drift_frame()
    assert drift.set_index("input")["drifted"].to_dict() == {"one": True, "two": False}
    assert any("drifted from the recording" in n for n in outputs[0].generations[0].notes)
    assert "1 drifted" in compared.summary()


def test_recording_again_extends_the_bundle_and_fresh_starts_it_empty(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    with nbllm.record(path):
        llm.generate("one")
    with nbllm.record(path):
        llm.generate("two")
    assert len(entries(path)) == 2
    with nbllm.record(path, fresh=True):
        llm.generate("three")
    assert [e["messages"][-1]["content"] for e in entries(path)] == ["three"]


def test_a_bundle_never_holds_the_api_key(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    key = KeyedLLM.KEY
    llm = KeyedLLM(cache=False)
    llm.enqueue("fine", f"the key is {key}")
    with pytest.warns(nbllm.NBLLMWarning, match="not recorded"):
        with nbllm.record(path):
            llm.generate(["safe", "leaky"])
    text = path.read_text()
    assert key not in text
    assert [e["text"] for e in entries(path)] == ["fine"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d["entries"][1].update(text=7), r"entry 1 \('two'\) is damaged: text"),
        (lambda d: d["entries"][1].update(text="edited by hand"), "entry 1 .*changed after it was recorded"),
        (lambda d: d["entries"][0].pop("stats"), "entry 0 .*stats"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d.update(format="other"), "not an nbllm replay bundle"),
    ],
)
def test_a_damaged_or_hand_edited_bundle_is_refused_naming_the_entry(tmp_path: Path, damage, message) -> None:
    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    with nbllm.record(path):
        llm.generate(["one", "two"])
    data = json.loads(path.read_text())
    data["entries"].sort(key=lambda e: e["messages"][-1]["content"])
    damage(data)
    path.write_text(json.dumps(data))
    with pytest.raises(nbllm.BundleError, match=message):
        nbllm.replay(path)
    assert sessions.active() is None


def test_a_truncated_or_missing_bundle_is_an_nbllm_error(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    path.write_text('{"format": "nbllm-bundle", "version": 1, "entries": [{"key"')
    with pytest.raises(nbllm.BundleError, match=r"damaged .*not JSON"):
        nbllm.replay(path)
    with pytest.raises(nbllm.BundleError, match="no replay bundle"):
        nbllm.replay(tmp_path / "absent.nbllm")


def test_one_session_at_a_time_and_none_costs_nothing(tmp_path: Path) -> None:
    llm = ScriptedLLM(cache=False)
    with nbllm.record(tmp_path / "a.nbllm"):
        with pytest.raises(nbllm.UsageError, match="still open"):
            nbllm.record(tmp_path / "b.nbllm")
    assert sessions.active() is None
    assert not llm.generate("plain")[0].generations[0].stats.recorded


class ProxiedLLM(ScriptedLLM):
    """A scripted backend behind an address that carries a password."""

    def _cache_identity(self) -> dict:
        return {**super()._cache_identity(), "base_url": "https://student:hunter2@proxy.example/v1"}


def test_an_address_with_a_password_is_never_recorded(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    with pytest.warns(nbllm.NBLLMWarning, match="holds a key or a password"):
        with nbllm.record(path):
            ProxiedLLM(cache=False).generate("safe")
    assert not path.exists() or "hunter2" not in path.read_text()
    assert sessions.active() is None


def test_the_fallback_gets_the_whole_request_its_own_defaults_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    with nbllm.record(path):
        ScriptedLLM(cache=False).generate("one")
    fallback = ScriptedLLM(cache=False)
    fallback.enqueue('{"word": "two"}')
    with nbllm.replay(path, fallback=fallback):
        (out,) = KeyedLLM(cache=False).generate(["two"], structured_output=Answer, top_k=3)
    (request,) = fallback.requests
    assert request.response_schema is not None and request.schema_name == "Answer"
    assert request.params == {
        "max_tokens": 16,
        "temperature": 0.5,
        "top_k": 3,
    }  # its defaults, then the cell's
    assert out.generations[0].parsed == Answer(word="two")


def test_a_parse_failure_is_recorded_and_replays_as_the_same_failure(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    llm.enqueue("not json at all")
    with nbllm.record(path):
        (live,) = llm.generate(["one"], structured_output=Answer)
    assert isinstance(live.generations[0].error, nbllm.ParseError)
    with nbllm.replay(path):
        (again,) = llm.generate(["one"], structured_output=Answer)
    g = again.generations[0]
    assert g.stats.recorded and g.text == "not json at all" and isinstance(g.error, nbllm.ParseError)


def test_another_model_s_recording_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    with nbllm.record(path):
        ScriptedLLM(cache=False).generate("one")
    with nbllm.replay(path):
        (out,) = KeyedLLM(cache=False).generate("one")
    assert "from another model or endpoint (backend=ScriptedLLM" in str(out.generations[0].error)


def test_a_failed_write_is_said_and_tried_again_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    recording = nbllm.record(path)
    path.mkdir()  # the bundle's place is taken: every write fails
    with pytest.warns(nbllm.NBLLMWarning, match="writing the replay bundle"):
        ScriptedLLM(cache=False).generate("one")
        from nbllm.engine import callbacks

        callbacks.flushed().result()
    with pytest.raises(OSError):
        recording.stop()
    assert not recording.stopped
    path.rmdir()
    recording.stop()  # the answer was kept: written now
    assert recording.stopped and [e["messages"][-1]["content"] for e in entries(path)] == ["one"]


def test_running_a_replay_cell_again_replaces_the_open_replay(tmp_path: Path) -> None:
    path = tmp_path / "lesson.nbllm"
    with nbllm.record(path):
        ScriptedLLM(cache=False).generate("one")
    first = nbllm.replay(path)
    second = nbllm.replay(path)  # the same cell run again
    assert sessions.active() is second._session
    with pytest.raises(nbllm.UsageError, match="still open"):
        nbllm.record(tmp_path / "other.nbllm")
    second.stop()
    first.stop()
    assert sessions.active() is None


def test_recording_over_a_damaged_bundle_or_another_file_says_what_to_do(tmp_path: Path) -> None:
    damaged = tmp_path / "lesson.nbllm"
    damaged.write_text('{"format": "nbllm-bundle", "version": 1, "entries": [7]}')
    with pytest.raises(nbllm.BundleError, match=r"fresh=True"):
        nbllm.record(damaged)
    nbllm.record(damaged, fresh=True).stop()
    notebook = tmp_path / "lesson.ipynb"
    notebook.write_text('{"cells": []}')
    with pytest.raises(nbllm.BundleError, match="not a replay bundle"):
        nbllm.record(notebook, fresh=True)
    assert notebook.read_text() == '{"cells": []}'


def test_a_failed_save_is_tried_again_and_running_the_cell_again_keeps_the_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbllm.engine import bundle_file as bundle
    from nbllm.engine import callbacks

    path = tmp_path / "lesson.nbllm"
    llm = ScriptedLLM(cache=False)
    real, failures = bundle.save, []

    def held(target, entries):  # another program holds the file: the first two writes fail
        if len(failures) < 2:
            failures.append(len(entries))
            raise PermissionError(13, "held by another program")
        real(target, entries)

    monkeypatch.setattr(bundle, "save", held)
    recording = nbllm.record(path)
    llm.generate(["one"])
    callbacks.flushed().result()
    assert failures == [1] and not path.exists()
    llm.generate(["two"])  # a later answer schedules a write again: it does not wait for stop()
    callbacks.flushed().result()
    assert failures == [1, 2] and not path.exists()
    again = nbllm.record(path)  # the record() cell run again: the unsaved answers carry over
    llm.generate(["three"])
    callbacks.flushed().result()
    assert path.exists() and len(again) == 3
    again.stop()
    with nbllm.replay(path):
        assert [o.generations[0].text for o in llm.generate(["one", "two", "three"])] == [
            "reply-1-0",
            "reply-2-0",
            "reply-3-0",
        ]
    assert recording is not again

"""Prompting exercises that check themselves, on the embedded model: a good prompt passes and a
bad one fails as the check says, hints unlock after failed attempts, the same prompt gets the
same answers and marks, a replayed bundle answers as the model did (a sample it lacks fails on
its own), and a class's files (one student's made in a real Jupyter kernel) read into one
table whose recheck confirms a true pass and flags a tampered one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

import nbllm
from nbllm.errors import InvalidParameterError

pytestmark = pytest.mark.slow

TASK = "Get the model to name the capital of France."
GOOD = "What is the capital of France? Answer in one word."
BAD = "Name a colour."
HINTS = ["Ask about France itself.", "Ask for a one-word answer."]
EXERCISE = """nbllm.Exercise("Get the model to name the capital of France.", nbllm.scorers.contains("Paris"),
                      samples=3, need=2, hints=["Ask about France itself.", "Ask for a one-word answer."],
                      llm={llm}, editable=["temperature"], max_tokens=12)"""


def france(llm: object = None) -> nbllm.Exercise:
    """The exercise every test (and the kernel) builds alike: one id for all its copies."""
    return eval(EXERCISE.format(llm="llm"), {"nbllm": nbllm, "llm": llm})


def test_a_good_prompt_passes_a_bad_one_fails_and_hints_unlock() -> None:
    exercise = france()  # llm=None: nbllm's default LLM, the embedded model
    assert exercise.llm.model_name == "SmolLM2-135M-Instruct"
    first = exercise.check_prompt(BAD)
    assert not first.passed and not exercise.passed
    assert first.marks == [0.0, 0.0, 0.0] and all("Paris" not in a for a in first.answers)
    assert [s.seed for s in first.samples] == [0, 1, 2]
    assert first.hint == exercise.hint == HINTS[0] and exercise.hints_shown() == HINTS[:1]
    second = exercise.check_prompt(GOOD, temperature=1.0)  # settings matter: too wild to pass
    assert not second.passed and second.passes < 2
    assert second.settings == {"temperature": 1.0} and second.hint == HINTS[1]
    third = exercise.check_prompt(GOOD)
    assert third.passed and exercise.passed and third.passes >= 2
    assert all(("Paris" in a) == (m == 1.0) for a, m in zip(third.answers, third.marks))
    assert third.hint == exercise.hint == ""
    assert [a.prompt for a in exercise.attempts] == [BAD, GOOD, GOOD]
    assert all(a.timestamp.endswith("+00:00") for a in exercise.attempts)
    assert third.describe() == f"{third.passes} of 3 answers pass (2 needed)"


def test_the_same_prompt_gets_the_same_answers_and_marks(embedded) -> None:
    student = france(embedded).check_prompt(GOOD, temperature=0.7)
    assert len(set(student.answers)) > 1, "three seeds gave one answer: the seeds did not differ"
    again = france(embedded).check_prompt(GOOD, temperature=0.7)  # another copy of the exercise
    assert again.answers == student.answers and again.marks == student.marks
    # a teacher's LLM with no cache answers afresh, and the same
    rerun = france(nbllm.LlamaCppLLM(cache=False)).recheck(student)
    assert rerun.answers == student.answers and rerun.marks == student.marks
    assert rerun.passed == student.passed and rerun.settings == {"temperature": 0.7}


def test_a_plain_function_and_a_raising_check_mark_each_answer(embedded) -> None:
    def short(answer: str) -> float:  # a number: at least the threshold passes
        return 1.0 - len(answer) / 100

    def picky(answer: str) -> bool:
        if "capital" in answer:
            raise ValueError("no capitals here")
        return True

    scored = nbllm.Exercise(TASK, short, samples=2, need=2, llm=embedded, threshold=0.8, max_tokens=12)
    attempt = scored.check_prompt(GOOD)
    assert [m for m in attempt.marks] == [1.0 - len(a) / 100 for a in attempt.answers]
    assert [s.passed for s in attempt.samples] == [m >= 0.8 for m in attempt.marks]
    raising = nbllm.Exercise(TASK, picky, samples=2, need=1, llm=embedded, max_tokens=12)
    attempt = raising.check_prompt(GOOD)
    assert all(s.mark is None and "ValueError: no capitals here" in s.error for s in attempt.samples)
    assert not attempt.passed and len(raising.attempts) == 1  # kept, with every answer


def test_a_replayed_bundle_answers_as_the_model_did(tmp_path: Path) -> None:
    bundle = tmp_path / "exercise.nbllm-bundle"
    with nbllm.record(bundle):
        recorded = france(nbllm.LlamaCppLLM(cache=False)).check_prompt(GOOD)
    with nbllm.replay(bundle) as session:
        replayed = france(nbllm.LlamaCppLLM(cache=False)).check_prompt(GOOD)
        assert session.summary().startswith("replaying") and "3 served" in session.summary()
        # a fourth sample was never recorded: that sample fails, the attempt is kept and marked
        wider = nbllm.Exercise(TASK, nbllm.scorers.contains("Paris"), samples=4, need=2,
                               llm=nbllm.LlamaCppLLM(cache=False), editable=["temperature"], max_tokens=12)  # fmt: skip
        four = wider.check_prompt(GOOD)
    assert replayed.answers == recorded.answers and replayed.marks == recorded.marks
    assert four.answers[:3] == recorded.answers and four.answers[3] is None
    assert "NotRecordedError" in four.samples[3].error and not four.samples[3].passed
    assert four.passed == (recorded.passes >= 2)


def test_bad_input_is_refused_by_field_before_any_request(embedded) -> None:
    def refused(field: str, call) -> None:
        with pytest.raises(InvalidParameterError) as caught:
            call()
        assert caught.value.field == field and field in str(caught.value), (field, str(caught.value))

    contains = nbllm.scorers.contains("Paris")
    refused("need", lambda: nbllm.Exercise(TASK, contains, samples=3, need=4, llm=embedded))
    refused("samples", lambda: nbllm.Exercise(TASK, contains, samples=0, llm=embedded))
    refused("task", lambda: nbllm.Exercise("  ", contains, llm=embedded))
    refused("check", lambda: nbllm.Exercise(TASK, 42, llm=embedded))
    refused("hints", lambda: nbllm.Exercise(TASK, contains, hints="one hint", llm=embedded))
    refused("editable", lambda: nbllm.Exercise(TASK, contains, editable=["seed"], llm=embedded))
    refused("editable", lambda: nbllm.Exercise(TASK, contains, editable=["max_new_tokens"], llm=embedded))
    refused("temperature", lambda: nbllm.Exercise(TASK, contains, temperature=9, llm=embedded))
    exercise = france(embedded)
    refused("prompt", lambda: exercise.check_prompt("   "))
    refused("top_p", lambda: exercise.check_prompt(GOOD, top_p=0.5))  # not editable here
    refused("temperature", lambda: exercise.check_prompt(GOOD, temperature=3.0))
    refused("prompt", lambda: exercise.submit(""))
    assert exercise.attempts == [] and embedded.last_generation is None  # nothing was sent


KERNEL_CELLS = [
    "import nbllm\nexercise = " + EXERCISE.format(llm="None"),
    "first = exercise.check_prompt('Name a colour.')\nsecond = exercise.check_prompt("
    "'What is the capital of France? Answer in one word.')\nprint('PASSED', exercise.passed, first.hint)",
    "exercise",  # the widget, as a student sees it
    "print('EXPORTED', exercise.export({folder!r}, student='ada'))",
]


def test_a_class_in_one_table_and_a_tampered_pass_flagged(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    # ada works in a real Jupyter kernel, as a student does
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c.format(folder=f"{folder}/")) for c in KERNEL_CELLS]
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    said = "".join(o.get("text", "") for c in notebook.cells for o in c.outputs if o.output_type == "stream")
    assert f"PASSED True {HINTS[0]}" in said
    assert "application/vnd.jupyter.widget-view+json" in notebook.cells[2].outputs[0]["data"]
    teacher = france()
    ada = folder / f"ada-{teacher.id}.json"
    assert f"EXPORTED {ada}" in said
    shutil.copy(ada, folder / "ada-again.json")  # handed in twice

    # bob never got there, and edited his file to claim a pass
    bob = france()
    bob.check_prompt(BAD)
    saved = json.loads(bob.export(folder / "bob.json", student="bob").read_text())
    saved["passed"] = saved["attempts"][0]["passed"] = True
    saved["attempts"][0]["samples"] = [
        {**s, "mark": 1.0, "passed": True} for s in saved["attempts"][0]["samples"]
    ]
    (folder / "bob.json").write_text(json.dumps(saved))
    # cy tried once and failed, honestly; someone's notes are in the folder too
    cy = france()
    cy.check_prompt("Name a fruit.")
    cy.export(folder, student="cy")
    (folder / "notes.json").write_text('{"todo": 1}')

    table = nbllm.class_results(folder).set_index("student")
    assert list(table.index) == ["ada", "bob", "cy", "notes"]
    assert table.loc["ada", "passed"] and table.loc["ada", "attempts"] == 2  # the copy counted once
    assert table.loc["ada", "best_prompt"] == GOOD and table.loc["ada", "file"].count(".json") == 2
    assert table.loc["bob", "passed"] and not table.loc["cy", "passed"]
    assert table.loc["cy", "best"] == "0 of 3 answers pass (2 needed)"
    assert "could not read" in table.loc["notes", "note"]
    assert table["reproduced"].isna().all()

    with pytest.raises(InvalidParameterError, match="exercises"):
        nbllm.class_results(folder, recheck=True)
    rechecked = nbllm.class_results([ada, folder / "bob.json", folder / "cy*.json"], exercises=[teacher],
                                    recheck=True).set_index("student")  # fmt: skip
    assert rechecked.loc["ada", "reproduced"] == True  # noqa: E712 - pandas' nullable boolean
    assert rechecked.loc["ada", "note"].startswith("reproduced: attempt 2")
    assert rechecked.loc["bob", "reproduced"] == False  # noqa: E712
    assert "did not reproduce: now 0 of 3 answers pass" in rechecked.loc["bob", "note"]
    assert pd.isna(rechecked.loc["cy", "reproduced"])  # nothing claimed, nothing rechecked


def test_a_file_never_holds_a_credential(tmp_path: Path) -> None:
    key = "sk-planted-0123456789abcdefSECRET"
    llm = nbllm.OpenAILLM(model="m", base_url="http://user:pw-secret@127.0.0.1:9/v1", api_key=key)
    exercise = nbllm.Exercise(TASK, "valid_json", samples=1, need=1, llm=llm)
    path = exercise.export(tmp_path / "me", student="me")
    text = path.read_text()
    assert path.suffix == ".json" and key not in text and "pw-secret" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["me.json"]  # no temporary file left
    queried = nbllm.OpenAILLM(model="m", base_url="http://u:pw@[::1]:9/v1?key=sk-in-the-query-42")
    again = nbllm.Exercise(TASK, "valid_json", samples=1, need=1, llm=queried).export(tmp_path / "q" / "me")
    text = again.read_text()
    assert "sk-in-the-query-42" not in text and "http://[::1]:9/v1" in text  # brackets kept

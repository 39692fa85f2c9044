"""An exercise checked against a real OpenAI-compatible server (llama-cpp-python's, with an API
key): every seeded answer is marked, a recheck answers afresh alike, and the student's file
holds no key."""

from __future__ import annotations

from pathlib import Path

import pytest

import nbllm
from tests.servers.conftest import Endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("endpoint", ["llama-cpp-python"], indirect=True)
def test_an_exercise_on_an_endpoint(endpoint: Endpoint, tmp_path: Path) -> None:
    exercise = nbllm.Exercise(
        "Get the model to name the capital of France.", nbllm.scorers.contains("Paris"),
        samples=3, need=2, hints=["Ask about France itself."], llm=endpoint.llm(), max_tokens=12,
    )  # fmt: skip
    failed = exercise.check_prompt("Name a colour.")
    assert not failed.passed and failed.hint == "Ask about France itself."
    attempt = exercise.check_prompt("What is the capital of France? Answer in one word.")
    assert [s.index for s in attempt.samples] == [0, 1, 2] and all(s.answer for s in attempt.samples)
    assert attempt.marks == [float("paris" in a.lower()) for a in attempt.answers]
    assert attempt.passed == (attempt.passes >= 2) and exercise.passed == attempt.passed
    again = exercise.recheck(attempt)
    assert again.answers == attempt.answers and again.marks == attempt.marks
    text = exercise.export(tmp_path / "student.json", student="ada").read_text()
    assert endpoint.key not in text and '"student": "ada"' in text

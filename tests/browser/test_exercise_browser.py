"""An exercise in a real JupyterLab: a student types a prompt and presses Check, sees each
seeded answer marked, a hint after the failed attempt, and the pass after a better prompt; an
empty prompt is refused by name, with nothing sent. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import open_notebook, run_all_cells, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CELLS = [
    """import nbllm

exercise = nbllm.Exercise(
    "Get the model to name the capital of France.",
    nbllm.scorers.contains("Paris"),
    samples=3,
    need=2,
    hints=["Ask about France itself.", "Ask for a one-word answer."],
    editable=["temperature"],
    max_tokens=12,
)
exercise""",
]
CHECKED = 300_000  # three answers on the embedded model, on two busy cores


def check(page: Any, box: Any, prompt: str, attempt: int) -> None:
    """Type `prompt`, press Check, and wait until the attempt's marks are shown."""
    box.locator("textarea").fill(prompt)
    box.get_by_role("button", name="Check").click()
    page.wait_for_function(
        """([el, n]) => {
            const attempts = el.querySelector('.nbllm-attempts');
            return attempts && attempts.innerText.split('·').length === n
                   && !el.querySelector('button').disabled
                   && !el.querySelector('.nbllm-status').innerText.includes('checking');
        }""",
        arg=[box.element_handle(), attempt],
        polling=250,
        timeout=CHECKED,
    )


def test_a_student_checks_prompts_in_a_real_browser(page: Any, tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "notebooks" / "exercise.ipynb")
    try:
        panel = open_notebook(page, "exercise.ipynb")
        run_all_cells(page)
        box = panel.locator(".nbllm-exercise")
        box.wait_for()
        assert panel.get_by_text("Error displaying widget").count() == 0
        assert "Get the model to name the capital of France." in box.locator(".nbllm-task").inner_text()
        assert "at least 2 of 3 answers" in box.locator(".nbllm-rules").inner_text()
        assert box.locator(".widget-slider").count() == 1  # temperature, the one editable setting

        box.get_by_role("button", name="Check").click()  # nothing typed yet
        box.get_by_text("prompt is empty").wait_for()
        assert box.locator(".nbllm-marks").count() == 0

        check(page, box, "Name a colour.", 1)
        assert "Not yet: 0 of 3 answers pass (2 needed)" in box.locator(".nbllm-verdict").inner_text()
        assert box.locator(".nbllm-marks tbody tr.nbllm-fail").count() == 3
        assert box.locator(".nbllm-hint").inner_text() == "Hint 1: Ask about France itself."
        shot(page, "exercise-hint.png")

        check(page, box, "What is the capital of France? Answer in one word.", 2)
        verdict = box.locator(".nbllm-verdict").inner_text()
        assert verdict.startswith("Passed:"), verdict
        assert box.locator(".nbllm-marks tbody tr.nbllm-pass").count() >= 2
        assert box.locator(".nbllm-marks tbody tr").count() == 3
        assert "Paris" in box.locator(".nbllm-marks").inner_text()
        assert box.locator(".nbllm-hint").count() == 0  # passed: no hint needed
        assert "Attempts: 1 ✗ · 2 ✓. Exercise passed." in box.inner_text()
        shot(page, "exercise.png")
    except Exception:
        shot(page, "exercise-failure.png")
        raise

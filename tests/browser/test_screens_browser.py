"""Every lesson as a student's laptop shows it: run top to bottom in JupyterLab, then paged
through at 1,400 x 900 with the file browser open, a screenshot of each screen kept in
test-artifacts/screenshots/ (to look at before a release). Nothing may be cut: no table wider
than its output area, no code line longer than its editor. Lessons 04, 05 and 08 are paged
the same way by the tests that already run them (test_notebooks_browser, test_lesson_browser)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import open_notebook, run_all_cells, screenshots

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LESSONS = [
    "01_quickstart.ipynb",
    "02_generators_tour.ipynb",
    "03_chat.ipynb",
    "06_playground.ipynb",
    "07_scale_out_with_ray.ipynb",
    "09_prompting_exercises.ipynb",
    "10_reasoning_models.ipynb",
]


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_fits_a_laptop_window(page: Any, name: str) -> None:
    panel = open_notebook(page, name)
    run_all_cells(page)
    assert panel.get_by_text("Error displaying widget").count() == 0
    assert screenshots(page, name) == []

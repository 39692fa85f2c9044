"""Copy as code in a real browser: the Playground's button puts its code in a new cell below,
which makes the same playground when run; where no front end adds a cell (as in Voilà), the
ParamsPanel's button shows the code in a box instead. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import execute, open_notebook, run_all_cells, run_cell, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CELLS = [
    'import nbllm\n\nllm = nbllm.LlamaCppLLM()\nplayground = nbllm.Playground(llm, "Name a colour.")\nplayground',
    "panel = nbllm.ParamsPanel(llm)\npanel",
]
CELL_COUNT = "() => window.jupyterapp.shell.currentWidget.content.widgets.length"


def write_notebook(page: Any, name: str) -> None:
    """Save a notebook of CELLS through JupyterLab's own contents service."""
    page.goto(f"{page.lab_url}/lab?reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.serviceManager.isReady")
    cells = [
        {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
        for source in CELLS
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    page.evaluate(
        """([name, content]) => window.jupyterapp.serviceManager.contents.save(
            name, {type: 'notebook', format: 'json', content})""",
        [name, notebook],
    )


def test_copy_as_code_in_a_real_browser(page: Any) -> None:
    try:
        write_notebook(page, "copy_as_code.ipynb")
        panel = open_notebook(page, "copy_as_code.ipynb")
        run_all_cells(page)
        playground = panel.locator(".nbllm-playground")
        playground.wait_for()
        # a setting the user changes: the temperature slider, four steps up
        slider = playground.locator(".widget-slider").first
        readout = slider.locator(".widget-readout")
        slider.locator(".noUi-handle").focus()
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        # the readout shows once the kernel has the value; the code was rewritten before that
        page.wait_for_function("el => el.innerText.trim() !== ''", arg=readout.element_handle())
        execute(page, "first = playground")
        copy = playground.get_by_role("button", name="Copy as code")
        assert page.evaluate(CELL_COUNT) == 2
        copy.click()
        page.wait_for_function(f"() => ({CELL_COUNT})() === 3")
        source = page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.widgets[1].model.sharedModel.getSource()"
        )
        assert "nbllm.Playground(" in source and "temperature=" in source, source
        assert playground.locator(".nbllm-code-box textarea").is_hidden()  # inserted, not boxed
        run_cell(page, 1)
        panel.locator(".nbllm-playground").nth(1).wait_for()
        execute(
            page,
            "assert playground is not first, 'the copied cell made a new playground'\n"
            "assert playground.generation_params.set_values() == first.generation_params.set_values()\n"
            "assert playground.prompt.value == first.prompt.value",
        )
        # where the front end adds no cell (Voilà, a saved page), the code shows in a box
        page.evaluate(
            "() => window.addEventListener('nbllm-insert-cell', e => e.stopImmediatePropagation(), true)"
        )
        params = panel.locator(".jp-Cell").nth(2)
        params.get_by_role("button", name="Copy as code").click()
        box = params.locator(".nbllm-code-box textarea")
        box.wait_for()
        assert "panel = nbllm.ParamsPanel(llm)" in box.input_value()
        assert page.evaluate(CELL_COUNT) == 3, "no cell is added when no front end answers"
        shot(page, "copy-as-code.png")
    except Exception:
        shot(page, "copy-as-code-failure.png")
        raise

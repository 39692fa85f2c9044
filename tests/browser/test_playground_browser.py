"""The playground in a real browser: the next Run's estimate shows before it, moving a slider
sends nothing, Run shows per-item progress and then the table; a screenshot is kept in
test-artifacts/ as evidence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import open_notebook, run_all_cells, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_playground_in_a_real_browser(page: Any) -> None:
    try:
        panel = open_notebook(page, "06_playground.ipynb")
        run_all_cells(page)
        playground = panel.locator(".nbllm-playground")
        playground.wait_for()
        assert panel.get_by_text("Error displaying widget").count() == 0
        # before any Run: what the next one would send, count and take
        estimate = playground.get_by_text("next run:")
        estimate.wait_for()
        assert "requests to send" in estimate.inner_text() or "request to send" in estimate.inner_text()
        # choosing another generator changes the description, never the layout below it
        below = playground.get_by_role("button", name="Run")
        picker = playground.locator("select").first
        tops = []
        for option in picker.locator("option").all_inner_texts():
            picker.select_option(option)
            page.wait_for_timeout(200)
            tops.append(round(playground.locator(".widget-output").first.bounding_box()["y"]))
        assert len(set(tops)) == 1, f"the table moved as the description changed: {tops}"
        assert below.is_visible()
        picker.select_option("Generator")
        slider = playground.locator(".widget-slider").first
        readout = slider.locator(".widget-readout")
        before = readout.inner_text()
        slider.locator(".noUi-handle").focus()
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("([el, old]) => el.innerText !== old", arg=[readout.element_handle(), before])
        after = readout.inner_text()
        assert float(after) > float(before)
        # the touched slider shows its readout and reset button; its track keeps its width, so
        # the sliders still line up
        tracks = playground.locator(".widget-hslider .slider-container").evaluate_all(
            "els => els.map(e => Math.round(e.getBoundingClientRect().width))"
        )
        assert len(tracks) >= 3 and len(set(tracks)) == 1, tracks
        # a slider only changes the playground's parameters: nothing is generated
        page.wait_for_timeout(500)
        table = playground.locator("table.nbllm-results")
        assert table.count() == 0 and playground.get_by_text("running").count() == 0

        playground.get_by_role("button", name="Run").click()
        progress = playground.get_by_text("running")
        progress.wait_for()  # progress shows while the run goes on
        table.wait_for()
        status = playground.get_by_text("done:")
        status.wait_for()
        assert f"temperature={float(after)}" in status.inner_text()
        assert table.locator("tbody tr").count() >= 1
        assert "took" in status.inner_text()
        # the next run's estimate, counted again after this one: the same prompt is now cached
        page.wait_for_function(
            "el => /next run:.*0 requests to send \\(1 held by the cache/.test(el.innerText)",
            arg=playground.element_handle(),
            timeout=60_000,
        )
        shot(page, "playground.png")
    except Exception:
        shot(page, "playground-failure.png")
        raise

"""compare()'s HTML report opened in Chromium with the network cut: it shows its tables, its
plot and its settings, and asks for nothing but its own file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import nbllm
from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_report_opens_offline_in_a_browser(tmp_path: Path) -> None:
    import playwright.sync_api as playwright

    table = pd.DataFrame({"prompt": ["What is the capital of France? Answer in one sentence.",
                                     "What is the capital of Italy? Answer in one sentence."],
                          "capital": ["Paris", "Rome"]})  # fmt: skip
    result = nbllm.compare(
        table, params=[{"temperature": 0.2}, {"temperature": 1.3}], samples=3, max_tokens=16, seed=2,
        scorers={"right capital": nbllm.scorers.reference("capital")},
    )  # fmt: skip
    report = result.to_html(tmp_path / "report")
    assert report.suffix == ".html"
    requests: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1400})
            page.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()
                                               if route.request.url.startswith("file://") else route.abort()))  # fmt: skip
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            text = page.inner_text("body")
            image = page.evaluate("() => [...document.images].map(i => i.complete && i.naturalWidth)")
            rows = page.evaluate("() => document.querySelectorAll('table.nbllm-wide tbody tr').length")
            # it reads like the notebook view: as wide as the window, every sample folded away
            width, height = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            folded = page.evaluate(
                "() => [...document.querySelectorAll('details.nbllm-every')].map(d => d.open)"
            )
            images_fit = page.evaluate(
                "() => [...document.images].every(i => i.getBoundingClientRect().right <= 1300)"
            )
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [report.as_uri()], requests  # nothing from the network
    assert image and all(width and width > 100 for width in image), image
    assert rows == 2
    assert width <= 1300 and images_fit, (width, images_fit)
    assert folded == [False] and height < 4000, (folded, height)
    assert "NaN" not in text and "nan" not in text.split()
    for expected in ("SmolLM2-135M-Instruct", "temperature=0.2", "temperature=1.3", "right capital",
                     "samples per cell", "nbllm", result.created[:10], "agree", "Every sample"):  # fmt: skip
        assert expected in text, expected

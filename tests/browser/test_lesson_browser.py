"""The sampling lesson (notebook 08) in JupyterLab, in headless Chromium: its recorded answers
carry the badge, and the token tree is used as a student uses it — click a token, see the
alternatives the model had there, pick one, see the new branch, walk back. A screenshot is
kept in test-artifacts/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import open_notebook, run_all_cells, screenshots, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def texts(tree: Any) -> str:
    return "".join(tree.locator(".nbllm-token").all_inner_texts())


def test_the_token_tree_forks_at_a_clicked_token_in_a_real_browser(page: Any) -> None:
    try:
        panel = open_notebook(page, "08_how_text_is_sampled.ipynb")
        run_all_cells(page)
        assert panel.get_by_text("Error displaying widget").count() == 0
        assert panel.locator(".nbllm-recorded").count() >= 3  # the replayed grid is marked
        assert screenshots(page, "08_how_text_is_sampled.ipynb") == []
        tree = panel.locator(".nbllm-tokentree")
        tree.wait_for()
        tree.locator(".nbllm-token").first.wait_for()
        branches = tree.locator(".nbllm-branch")
        assert branches.count() == 2  # the first answer, and the notebook's own pick
        branches.first.click()  # back to the first answer: shown at once
        page.wait_for_function(
            "el => el.querySelector('.nbllm-branch.nbllm-current') === el.querySelector('.nbllm-branch')",
            arg=tree.element_handle(),
        )
        first = texts(tree)
        tokens = tree.locator(".nbllm-token")
        # by keyboard: Tab reaches the tokens (one tab stop), arrows move along, Enter selects
        assert (
            tokens.nth(0).get_attribute("role") == "button" and tokens.nth(0).get_attribute("tabindex") == "0"
        )
        assert "token #0" in tokens.nth(0).get_attribute("aria-label")
        tokens.nth(0).focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert tokens.nth(2).evaluate("el => document.activeElement === el")
        page.keyboard.press("Enter")
        rows = tree.locator(".nbllm-tt-table tbody tr")
        rows.first.wait_for()
        # one numbering: the widget's "#2" is the code's tree.select(2)
        assert tree.locator(".nbllm-tt-head").inner_text().startswith("Token #2"), tree.locator(
            ".nbllm-tt-head"
        ).inner_text()
        assert tokens.nth(2).get_attribute("aria-pressed") == "true"
        # a click does the same (nothing is sent)
        tokens.nth(1).click()
        page.wait_for_function(
            "el => el.querySelector('.nbllm-tt-head')?.innerText.startsWith('Token #1')",
            arg=tree.element_handle(),
        )
        tokens.nth(2).click()
        page.wait_for_function(
            "el => el.querySelector('.nbllm-tt-head')?.innerText.startsWith('Token #2')",
            arg=tree.element_handle(),
        )
        assert rows.count() >= 2
        assert tree.locator(".nbllm-tt-table .nbllm-current").count() == 1  # the written token
        assert branches.count() == 2
        # pick another token there: the model writes on from it, a new branch appears
        fresh = rows.filter(has=page.get_by_role("button", name="pick", exact=True)).first
        picked = json.loads(fresh.locator(".nbllm-alt-token").inner_text())
        fresh.get_by_role("button", name="pick", exact=True).click()
        page.wait_for_function(
            "el => el.querySelectorAll('.nbllm-branch').length === 3", arg=tree.element_handle()
        )
        current = tree.locator(".nbllm-branch.nbllm-current").inner_text()
        assert repr(picked) in current and current.startswith("branch #2: at token #2,"), current
        forked = texts(tree)
        assert forked != first
        assert tokens.nth(2).inner_text().strip() == picked.replace("\n", "\u21b5\n").strip()
        shot(page, "token-tree.png")
        # walk back: the first answer again, without a request
        branches.first.click()
        page.wait_for_function(
            "([el, text]) => [...el.querySelectorAll('.nbllm-token')].map(t => t.innerText).join('') === text",
            arg=[tree.element_handle(), first],
        )
        tree.locator(".nbllm-branch", has_text="branch #2:").click()
        page.wait_for_function(
            "([el, text]) => [...el.querySelectorAll('.nbllm-token')].map(t => t.innerText).join('') === text",
            arg=[tree.element_handle(), forked],
        )
    except Exception:
        shot(page, "token-tree-failure.png")
        raise

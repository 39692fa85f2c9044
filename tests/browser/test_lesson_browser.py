"""The sampling lesson (notebook 08) in JupyterLab, in headless Chromium: its recorded answers
carry the badge, and the token tree is used as a student uses it — click a token, see the
alternatives the model had there, pick one, see the new branch, walk back. A screenshot is
kept in test-artifacts/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import open_notebook, run_all_cells, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def texts(tree: Any) -> str:
    return "".join(tree.locator(".nbllm-token").all_inner_texts())


def test_the_token_tree_forks_at_a_clicked_token_in_a_real_browser(page: Any) -> None:
    try:
        panel = open_notebook(page, "08_how_text_is_sampled.ipynb")
        run_all_cells(page)
        assert panel.get_by_text("Error displaying widget").count() == 0
        assert panel.locator(".nbllm-recorded").count() >= 3  # the replayed grid is marked
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
        # click a token: its alternatives show, with the model's probabilities (nothing is sent)
        tokens.nth(2).click()
        rows = tree.locator(".nbllm-tt-table tbody tr")
        rows.first.wait_for()
        assert rows.count() >= 2
        assert tree.locator(".nbllm-tt-head").inner_text().startswith("Token 3")
        assert tree.locator(".nbllm-tt-table .nbllm-current").count() == 1  # the written token
        assert branches.count() == 2
        # pick another token there: the model writes on from it, a new branch appears
        fresh = rows.filter(has=page.get_by_role("button", name="pick", exact=True)).first
        picked = json.loads(fresh.locator(".nbllm-alt-token").inner_text())
        fresh.get_by_role("button", name="pick", exact=True).click()
        page.wait_for_function(
            "el => el.querySelectorAll('.nbllm-branch').length === 3", arg=tree.element_handle()
        )
        assert repr(picked) in tree.locator(".nbllm-branch.nbllm-current").inner_text()
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
        branches.nth(2).click()
        page.wait_for_function(
            "([el, text]) => [...el.querySelectorAll('.nbllm-token')].map(t => t.innerText).join('') === text",
            arg=[tree.element_handle(), forked],
        )
    except Exception:
        shot(page, "token-tree-failure.png")
        raise

"""The notebooks as a teacher meets them in JupyterLab (set up as on Binder), in headless
Chromium: they open unmodified and trusted; the chat sends on Enter, takes Shift+Enter as a new
line, marks an unsaved edit and forks on save; a saved notebook reopens with its widgets and
unmodified; the temperature explorer redraws for a slider and for an edited prompt. Screenshots
are kept in test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import ROOT, execute, open_notebook, run_all_cells, run_cell, screenshots, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def state(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const code = panel.content.widgets.filter(c => c.model.type === 'code');
            return {dirty: panel.context.model.dirty, trusted: code.map(c => c.model.trusted)};
        }"""
    )


# The chat shows `n` messages, the last one a finished reply, and can send again.
REPLIED = """n => {
    const chat = document.querySelector('.nbllm-chat');
    const boxes = chat.querySelectorAll('textarea.nbllm-textbox');  // the messages, then the input
    const send = [...chat.querySelectorAll('button')].find(b => b.innerText.trim() === 'Send');
    return boxes.length === n + 1 && boxes[n - 1].value.length > 0 && !boxes[n - 1].disabled
           && send && !send.disabled;
}"""


def save(page: Any) -> None:
    """Save the current notebook and wait until it is no longer marked modified."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")


def wait_modified(page: Any) -> None:
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.model.dirty")


def shut_down_kernel(page: Any) -> None:
    """Stop the notebook's kernel (its widget models die with it); the next page load reopens."""
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.shutdown(); }")


def test_notebooks_open_unmodified_and_trusted(page: Any) -> None:
    for name in NOTEBOOKS:
        open_notebook(page, name)
        page.wait_for_timeout(500)  # JupyterLab writes kernel metadata just after connecting
        found = state(page)
        assert found["dirty"] is False, f"{name} is marked modified on opening"
        assert found["trusted"] and all(found["trusted"]), f"{name} opens untrusted"
        shut_down_kernel(page)


def test_chat_in_a_real_browser(page: Any) -> None:
    try:
        panel = open_notebook(page, "03_chat.ipynb")
        run_cell(page, 1)  # the cell that shows the chat; the rest drive it from code
        chat = panel.locator(".nbllm-chat").first
        chat.wait_for()
        assert panel.get_by_text("Error displaying widget").count() == 0
        message = chat.locator("textarea[placeholder^='Type a message']")
        message.click()
        message.type("My name is Ada.")
        page.keyboard.press("Shift+Enter")  # a new line, not "run cell"
        message.type("Please greet me.")
        page.keyboard.press("Enter")  # sends
        page.wait_for_function(
            """() => {
                const boxes = document.querySelectorAll('.nbllm-chat textarea.nbllm-textbox');
                return boxes.length >= 2 && boxes[0].value === 'My name is Ada.\\nPlease greet me.';
            }"""
        )
        user_box = chat.locator("textarea.nbllm-textbox").nth(0)
        page.wait_for_function(REPLIED, arg=2)
        reply = chat.locator("textarea.nbllm-textbox").nth(1)
        assert message.input_value() == ""
        # a box grows with its text instead of hiding it behind a scrollbar: the reply shows all
        # of itself, and the two-line message is taller than the emptied one-line input
        hidden, height = reply.evaluate("el => [el.scrollHeight - el.clientHeight, el.offsetHeight]")
        assert hidden <= 1 or height >= 359, f"{hidden}px of the reply hidden in a {height}px box"
        tall = user_box.evaluate("el => el.getBoundingClientRect().height")
        short = message.evaluate("el => el.getBoundingClientRect().height")
        assert tall > short * 1.4, (tall, short)
        # an edit not saved yet is marked; saving it forks a new branch
        user_box.click()
        page.keyboard.press("End")
        user_box.type(" Thanks!")
        chat.locator(".nbllm-unsaved").wait_for()
        shot(page, "chat-unsaved-edit.png")
        chat.get_by_role("button", name="save edit").first.click()
        branch = chat.locator("select").first
        page.wait_for_function("el => el.options.length === 2", arg=branch.element_handle())
        page.wait_for_function("() => !document.querySelector('.nbllm-unsaved')")  # saved: no mark
        page.wait_for_function(REPLIED, arg=2)  # the edited turn got its own reply
        shot(page, "chat.png")

        # saved, closed (kernel shut down) and reopened: the widgets come back from the saved state
        save(page)
        shut_down_kernel(page)
        panel = open_notebook(page, "03_chat.ipynb")
        panel.locator(".nbllm-chat").first.wait_for()
        assert panel.get_by_text("Error displaying widget").count() == 0
        assert panel.get_by_text("model not found").count() == 0
        shot(page, "chat-reopened.png")
        # no broken-link icon over the saved chat; one line says how to bring it back
        icons, note = page.evaluate(
            """() => {
                const root = document.querySelector('.nbllm-chat');
                const inside = [...root.querySelectorAll('.jupyter-widgets-disconnected')];
                const shown = inside.filter(el => getComputedStyle(el, '::before').content !== 'none');
                return [shown.length, getComputedStyle(root, '::before').content];
            }"""
        )
        assert icons == 0, f"{icons} broken-link icons over the saved chat"
        assert "run this cell" in note, note
        # widgets restored from the saved state leave the notebook unmodified (nbllm-lab);
        # running a cell still marks it, so the new state is saved
        assert page.evaluate("() => window.jupyterapp.isPluginActivated('nbllm-lab:open-unmodified')")
        assert state(page)["dirty"] is False, "the reopened notebook is marked modified"
        assert page.locator(".jp-mod-current.jp-mod-dirty").count() == 0  # no dot on its tab
        shot(page, "chat-reopened-unmodified.png")
        run_cell(page, 1)
        wait_modified(page)
        # saved, then the page loaded again with the kernel still running: the live chat comes
        # back from the kernel, unmodified; a message sent in it marks the notebook again
        save(page)
        panel = open_notebook(page, "03_chat.ipynb")
        chat = panel.locator(".nbllm-chat").first
        message = chat.locator("textarea[placeholder^='Type a message']")
        message.wait_for()
        assert state(page)["dirty"] is False, "reloaded with a live chat, the notebook is marked modified"
        message.fill("Thank you.")
        message.press("Enter")
        wait_modified(page)
    except Exception:
        shot(page, "chat-failure.png")
        raise


def test_a_second_enter_while_the_chat_answers_waits_its_turn(page: Any) -> None:
    try:
        panel = open_notebook(page, "03_chat.ipynb")
        run_cell(page, 1)
        chat = panel.locator(".nbllm-chat").first
        chat.wait_for()
        execute(page, "chat.options['max_tokens'] = 300")  # a reply long enough to type over
        message = chat.locator("textarea[placeholder^='Type a message']")
        message.fill("Please tell me a long story about a cat named Tom.")
        message.press("Enter")
        page.wait_for_function(  # the reply is streaming: text in a box still disabled
            """() => {
                const boxes = document.querySelectorAll('.nbllm-chat textarea.nbllm-textbox');
                return boxes.length === 3 && boxes[1].disabled && boxes[1].value.length > 0;
            }"""
        )
        message.fill("Second message: what is 2+2?")
        message.press("Enter")
        chat.locator(".nbllm-queued").wait_for()
        chat.get_by_text("1 message queued").wait_for()  # the status line says so too
        shot(page, "chat-queued.png")
        page.wait_for_function(REPLIED, arg=4)
        page.wait_for_function("() => !document.querySelector('.nbllm-queued')")
        boxes = chat.locator("textarea.nbllm-textbox")
        values = [boxes.nth(i).input_value() for i in range(4)]
        assert values[0] == "Please tell me a long story about a cat named Tom."
        assert values[2] == "Second message: what is 2+2?"
        assert values[1] and values[3] and values[1] != values[3]  # two replies, neither lost
        roles = chat.locator(".widget-hbox > .widget-html b").all_inner_texts()[:4]
        assert roles == ["user", "assistant", "user", "assistant"], roles
        shot(page, "chat-two-turns.png")
        # Binder's settings switch off JupyterLab's "get notified about Jupyter news?" popup
        assert page.get_by_text("notified about official Jupyter news").count() == 0
    except Exception:
        shot(page, "chat-queue-failure.png")
        raise


def test_temperature_explorer_in_a_real_browser(page: Any) -> None:
    try:
        panel = open_notebook(page, "05_temperature_and_top_p.ipynb")
        run_all_cells(page)
        explorer = panel.locator(".widget-vbox:has(.widget-slider)").first
        chart = explorer.locator(".widget-output img").first
        chart.wait_for()
        first = chart.get_attribute("src")
        labels = explorer.locator(".widget-label").all_inner_texts()
        assert "temperature" in labels and "top_p" in labels, labels  # not cut off
        handle = explorer.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(10):
            page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "([el, old]) => { const img = el.querySelector('.widget-output img'); return !!img && img.src !== old; }",
            arg=[explorer.element_handle(), first],
        )
        assert "The sampler (top_k=" in explorer.inner_text() and "fresh samples" in explorer.inner_text()
        second = explorer.locator(".widget-output img").first.get_attribute("src")
        assert "all other" in explorer.inner_text() or chart.is_visible()  # the rest as one bar
        prompt = explorer.locator("input[type=text]").first
        prompt.fill("Name an animal.")
        prompt.press("Enter")
        page.wait_for_function(
            "([el, old]) => { const img = el.querySelector('.widget-output img'); return !!img && img.src !== old; }",
            arg=[explorer.element_handle(), second],
        )
        shot(page, "temperature-explorer.png")
        assert screenshots(page, "05_temperature_and_top_p.ipynb") == []
    except Exception:
        shot(page, "explorer-failure.png")
        raise


def test_a_comparison_reads_in_full_and_fits_the_page(page: Any) -> None:
    try:
        panel = open_notebook(page, "04_comparisons.ipynb")
        run_all_cells(page)
        table = panel.locator("table.nbllm-wide").first
        table.wait_for()
        table.scroll_into_view_if_needed()  # JupyterLab renders only the cells in view
        fit = table.evaluate(
            """t => {
                const area = t.closest('.jp-OutputArea-output');
                const cells = [...t.querySelectorAll('td')];
                return {
                    spill: t.getBoundingClientRect().right - area.getBoundingClientRect().right,
                    aligned: cells.every(c => ['left', 'start', 'right'].includes(getComputedStyle(c).textAlign)),
                    textLeft: cells.filter(c => !c.classList.contains('num'))
                                   .every(c => ['left', 'start'].includes(getComputedStyle(c).textAlign)),
                    cut: cells.filter(c => c.innerText.trim().endsWith('...')).length,
                    header: t.querySelector('th').innerText,
                };
            }"""
        )
        assert fit["spill"] <= 1, f"the table spills {fit['spill']}px past the output area"
        assert fit["textLeft"] and fit["cut"] == 0, fit
        assert fit["header"] != "variant"
        # the caption of the table scrolled into view, by its text: innerText is empty for an
        # element JupyterLab has not rendered (a cell out of view), which depends on the window
        caption = table.locator("caption").text_content() or ""
        assert "Compared on SmolLM2-135M-Instruct" in caption, caption
        shot(page, "comparison.png")
        # compare() showed a bar per variant, each full when its table appeared (8 prompts; then
        # 8 prompts x 20 samples)
        full = {}
        for index in range(
            page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
        ):
            cell = page.evaluate(
                """i => { const c = window.jupyterapp.shell.currentWidget.content.widgets[i];
                          c.node.scrollIntoView(); return c.model.type; }""",
                index,
            )
            if cell == "code":
                page.wait_for_timeout(50)
                text = panel.evaluate("el => el.textContent")
                for done in ("8/8", "160/160"):
                    found = len(re.findall(rf"(?<![\d/]){done}(?![\d/])", text))
                    full[done] = max(full.get(done, 0), found)
        assert full["8/8"] >= 2 and full["160/160"] >= 2, full
        # only the table asked for is interactive (the ranking above it stays a plain table),
        # and nothing the notebook showed logged an error in the browser
        interactive = panel.locator(".dt-container, .dataTables_wrapper")  # one per table, scrolling or not
        interactive.first.wait_for()
        assert interactive.count() == 1, interactive.count()
        assert page.console_errors == [], page.console_errors
        assert screenshots(page, "04_comparisons.ipynb") == []
        arena_votes_by_click_and_key(page, panel)
    except Exception:
        shot(page, "comparison-failure.png")
        raise


def arena_votes_by_click_and_key(page: Any, panel: Any) -> None:
    """The arena in notebook 04: blind until the vote, revealed after it, by a button and by a
    key pressed in its strip (which must not reach the notebook as a command)."""
    import re
    import time

    arena = panel.locator(".nbllm-arena").first
    arena.scroll_into_view_if_needed()
    arena.locator(".nbllm-answer").first.wait_for()  # its view has rendered

    def status() -> tuple[int, str]:
        text = arena.locator(".nbllm-status").inner_text()
        found = re.search(r"(\d+) votes so far", text)
        return (int(found.group(1)) if found else -1), text

    def vote(act: Any, count: int, side: str) -> str:
        """Vote once and wait until the kernel has it: the pair and its round reach the browser
        together, so a vote on the pair on screen always counts, and counts once."""
        act()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen, text = status()
            if seen == count and text.startswith(f"You voted {side}"):
                return text
            assert seen < count and "not counted" not in text, f"vote lost or doubled: {text}"
            page.wait_for_timeout(250)
        raise AssertionError(f"the arena did not record the vote: {status()}")

    before, _ = status()
    assert before >= 0, status()
    answers = arena.locator(".nbllm-answer").all_inner_texts()
    assert len(answers) == 2 and not any(n in a for a in answers for n in ("careful", "wild"))  # blind
    cells = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    shown = arena.locator(".nbllm-answer").all_inner_texts()
    revealed = vote(lambda: arena.locator("button", has_text="A is better").click(), before + 1, "A")
    assert "careful (T=0.3)" in revealed and "wild (T=1.2)" in revealed, revealed
    # the reveal names the pair it belongs to: the same two answers, each under its contender
    sides = arena.locator(".nbllm-side").all_inner_texts()
    assert sorted(sides) == sorted(["A was careful (T=0.3)", "B was wild (T=1.2)"]) or sorted(
        sides
    ) == sorted(["A was wild (T=1.2)", "B was careful (T=0.3)"]), sides
    assert [t.split("\n", 1)[1] for t in arena.locator(".nbllm-answer").all_inner_texts()] == [
        t.split("\n", 1)[1] for t in shown
    ]
    assert arena.locator("button.nbllm-vote").first.is_hidden()
    # after a click the keys still work: focus went to the key strip, which shows it has it
    keys = arena.locator(".nbllm-arena-keys")
    assert keys.evaluate("el => document.activeElement === el")
    assert "Keys on" in keys.inner_text() and "2px solid" in keys.get_attribute("style")
    shot(page, "arena-after-click.png")
    page.keyboard.press("n")  # the next pair, blind again, with no reveal under it
    page.wait_for_function(
        "el => el.querySelectorAll('.nbllm-side')[0].textContent === 'A'",
        arg=arena.element_handle(),
        timeout=30_000,
    )
    status_now = arena.locator(".nbllm-status").inner_text()
    assert "careful" not in status_now and "wild" not in status_now, status_now
    assert not any(
        n in a for a in arena.locator(".nbllm-answer").all_inner_texts() for n in ("careful", "wild")
    )

    def press_b() -> None:
        page.keyboard.press("b")  # no click first: focus stayed in the arena

    vote(press_b, before + 2, "B")
    after = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    assert after == cells, "the key reached the notebook and added a cell"
    shot(page, "arena-after-key.png")

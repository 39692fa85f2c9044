"""Text nbllm did not write (a data row, a server's error, a bundle's text) never becomes live
HTML in a widget: a script payload goes through each widget's text paths and comes out escaped."""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace

import pytest

import nbllm
from nbllm.errors import BackendError
from tests.scripted import ScriptedLLM

PAYLOAD = "<img src=x onerror=alert(1)>"


def assert_inert(markup: str) -> None:
    assert PAYLOAD not in markup and "<img" not in markup, markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup, markup


def test_a_data_row_in_human_verification_is_text() -> None:
    widget = nbllm.HumanVerification()
    widget.callback([SimpleNamespace(text="an answer")], PAYLOAD)
    assert_inert(widget.prompt.value)


class _Named(ScriptedLLM):
    """A backend whose error carries text from outside (its model name here)."""

    @property
    def model_name(self) -> str:
        return PAYLOAD


def test_an_error_in_the_chat_status_is_text() -> None:
    chat = nbllm.ChatWidget(_Named(cache=False, max_retries=0))
    with pytest.raises(nbllm.NBLLMError):
        chat.send("hi").result(timeout=30)
    assert_inert(chat.status.value)


def test_a_failed_run_in_the_playground_status_is_text() -> None:
    playground = nbllm.Playground(ScriptedLLM(cache=False))
    failed: concurrent.futures.Future = concurrent.futures.Future()
    failed.set_exception(BackendError(f"from a bundle: {PAYLOAD}"))
    playground._show(failed)
    assert_inert(playground.status.value)


def test_a_role_in_the_chat_history_is_text() -> None:
    llm = ScriptedLLM(cache=False)
    llm.history = [{"role": PAYLOAD, "content": PAYLOAD}]  # as a checkpoint file could hold
    chat = nbllm.ChatWidget(llm)
    chat.render()
    labels = [row.children[0].value for row in chat.transcript.children]
    assert labels
    for label in labels:
        assert_inert(label)


def test_a_currency_in_the_cost_meter_is_text() -> None:
    meter = nbllm.CostMeter(
        ScriptedLLM(cache=False), price_per_input_token=1e-6, max_cost=1.0, currency=PAYLOAD
    )
    meter.refresh()
    assert_inert(meter.value)


def test_a_generators_description_and_name_are_text() -> None:
    from nbllm.generators.base import BaseGenerator
    from nbllm.generators.registry import GENERATORS

    class Planted(BaseGenerator):  # any subclass registers itself: third-party code names it
        name = PAYLOAD
        description = PAYLOAD

        async def agenerate(self, inputs, **params):
            return []

    try:
        picker = nbllm.GeneratorPicker(value=PAYLOAD)
        assert_inert(picker.help.value)
    finally:
        GENERATORS.pop(PAYLOAD, None)


def test_a_magic_answer_keeps_its_markdown_and_shows_its_html_as_text() -> None:
    from nbllm.notebook.display.html import markdown_html

    page = markdown_html(f"**bold** and `a < b` then {PAYLOAD}\n\n```\nx <y>\n```")
    assert "<strong>bold</strong>" in page and "<code>a &lt; b</code>" in page
    assert "x &lt;y&gt;" in page
    assert_inert(page)


def test_an_interactive_table_shows_html_as_text_whatever_itables_allows() -> None:
    import itables.options
    import pandas as pd

    from nbllm.notebook.compare.report import interactive

    allowed = itables.options.allow_html
    itables.options.allow_html = True  # the user allows HTML for their own tables
    try:
        markup = interactive(pd.DataFrame({"answer": [PAYLOAD]})).data
    finally:
        itables.options.allow_html = allowed
    assert PAYLOAD not in markup, "the answer went in as HTML"

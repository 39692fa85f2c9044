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

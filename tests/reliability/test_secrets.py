"""A planted API key is looked for everywhere nbllm writes: it must appear nowhere."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbllm
from tests.conftest import free_port

pytestmark = pytest.mark.slow

KEY = "sk-planted-0123456789abcdefSECRET"


def test_planted_key_appears_nowhere(faults, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cache = tmp_path / "cache.sqlite3"
    llm = nbllm.OpenAILLM(
        model="fault", base_url=faults.base_url, api_key=KEY, cache_path=str(cache), max_retries=0
    )
    llm.enable_logging(tmp_path / "events.log")
    outputs = llm.generate(["hello", "faults=echo401|who am I", "faults=500|boom"])
    echoed = outputs[1].generations[0].error
    assert isinstance(echoed, nbllm.AuthenticationError) and "sk-***" in str(echoed)
    llm.chat("remember me")
    checkpoint = llm.save_checkpoint(tmp_path / "ckpt")
    frame = outputs.to_dataframe()
    written = {
        "repr": repr(llm) + str(llm) + repr(outputs),
        "model_dump": json.dumps(llm.model_dump(mode="json")),
        "checkpoint": checkpoint.read_text(),
        "log file": (tmp_path / "events.log").read_text(),
        "cache file": cache.read_bytes().decode("latin-1"),
        "dataframe": frame.to_csv() + frame.to_json(),
        "html": outputs._repr_html_(),
        "errors": " ".join(str(g.error) + repr(g.error) for o in outputs for g in o.generations),
        "python logs": caplog.text,
    }
    for where, text in written.items():
        assert KEY not in text, f"the key leaked into the {where}"


def test_saved_notebook_outputs_hold_no_key(faults, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import nbllm\nllm = nbllm.OpenAILLM(model='fault', base_url={faults.base_url!r}, api_key={KEY!r}, max_retries=0)\nllm"
        ),
        nbformat.v4.new_code_cell("out = llm.generate(['hi', 'faults=echo401|x'])\nout"),
        nbformat.v4.new_code_cell("print(out[1].generations[0].error)\nout.to_dataframe()"),
        nbformat.v4.new_code_cell("llm.model_dump()"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "sk-***" in outputs  # the echoed key was blanked out, not hidden by accident
    assert KEY not in outputs
    assert path.read_text().count(KEY) == 1  # only in the source of the first cell, which the user typed


def _chain(error: BaseException) -> list[BaseException]:
    seen, out, todo = set(), [], [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        todo += [e.__cause__, e.__context__]
    return out


def test_a_key_refused_by_the_model_check_leaks_nowhere(faults, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "bad-" + KEY
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, api_key=bad, cache=False)
    llm.enable_logging(tmp_path / "events.log")
    outputs = llm.generate(["a", "b"])
    errors = [g.error for o in outputs for g in o.generations]
    assert all(isinstance(e, nbllm.AuthenticationError) for e in errors)
    frame = outputs.to_dataframe()
    written = {
        "errors": " ".join(str(e) + repr(e) + repr(e.args) for e in errors),
        "repr": repr(outputs) + repr(llm),
        "html": outputs._repr_html_(),
        "dataframe": frame.to_csv() + frame.to_json(),
        "engine log": repr(list(llm.engine.log.entries)),
        "log file": (tmp_path / "events.log").read_text(),
        "python logs": caplog.text,
    }
    assert "sk-***" in written["errors"]  # the echoed key is there, blanked
    for where, text in written.items():
        assert bad not in text, f"the key leaked into the {where}"
    for error in errors:
        for linked in _chain(error):
            assert not type(linked).__module__.startswith("openai"), linked
            assert bad not in str(linked) + repr(linked.args)


def test_the_environment_key_is_not_sent_to_another_server(faults, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    llm = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False)
    assert llm.generate("hello")[0].generations[0].ok
    passed = nbllm.OpenAILLM(model="fault", base_url=faults.base_url, cache=False, api_key="sk-given-1234567")
    assert passed.generate("hello again")[0].generations[0].ok
    seen = faults.stats()["auth"]
    assert all(KEY not in header for header in seen)
    assert "Bearer sk-given-1234567" in seen


def test_openai_base_url_from_the_environment_is_the_endpoint_everywhere(faults, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", faults.base_url)
    faults.reset()
    llm = nbllm.OpenAILLM(model="fault", cache=False)
    assert llm.generate("hello from the environment")[0].generations[0].ok  # it went to that server
    assert all(KEY not in header for header in faults.stats()["auth"])  # with no OpenAI key
    assert llm._cache_identity()["base_url"] == faults.base_url  # and is cached as that server's
    (failed,) = nbllm.OpenAILLM(model="no-such-model", cache=False).generate("hello")
    assert faults.base_url in str(failed.generations[0].error)  # errors name it


PASSWORD = "pw-planted-0123456789"


def test_a_base_url_password_is_sent_as_basic_auth_and_shown_nowhere(
    faults, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = faults.base_url.replace("http://", f"http://ada:{PASSWORD}@")
    llm = nbllm.OpenAILLM(model="fault", base_url=url, max_retries=0, cache=False)  # aiohttp
    llm.enable_logging(tmp_path / "events.log")
    outputs = llm.generate(["hello", "faults=drop|cut off"])
    assert outputs[0].generations[0].text == "ok:hello"  # the URL's user and password work
    token = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    assert f"Basic {token}" in faults.stats()["auth"]
    broken = outputs[1].generations[0].error
    assert isinstance(broken, nbllm.TransientBackendError) and "http://***@127.0.0.1" in str(broken)
    refused_url = f"http://ada:{PASSWORD}@127.0.0.1:{free_port()}/v1?key={PASSWORD}"
    refused = nbllm.OpenAILLM(model="fault", base_url=refused_url, max_retries=0, cache=False)
    (failed,) = refused.generate("anyone there?")
    checkpoint = llm.save_checkpoint(tmp_path / "ckpt")
    errors = [broken, failed.generations[0].error]
    frame = outputs.to_dataframe()
    written = {
        "errors": " ".join(str(e) + repr(e) + repr(e.args) for e in errors),
        "repr": repr(llm) + str(llm) + repr(refused) + str(refused) + repr(outputs),
        "html": outputs._repr_html_() + failed._repr_html_(),
        "dataframe": frame.to_csv() + frame.to_json() + failed.to_dataframe().to_csv(),
        "checkpoint": checkpoint.read_text(),
        "log file": (tmp_path / "events.log").read_text(),
        "python logs": caplog.text,
    }
    assert "could not connect to http://***@127.0.0.1" in written["errors"]
    for where, text in written.items():
        assert PASSWORD not in text, f"the base URL's password leaked into the {where}"

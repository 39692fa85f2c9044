"""Copy as code: the code a widget writes makes it again, as it was on screen, when run (on the
embedded model), with only the settings the user set, and never an API key."""

from __future__ import annotations

from typing import Any

import pytest

import nbllm

pytestmark = pytest.mark.timeout(600)


def run(code: str) -> dict[str, Any]:
    assert all(len(line) <= 88 for line in code.splitlines()), code
    namespace: dict[str, Any] = {}
    exec(compile(code, "<copied cell>", "exec"), namespace)
    return namespace


def test_the_params_panel_writes_its_llm_and_the_parameters_set() -> None:
    llm = nbllm.LlamaCppLLM(cache=False, temperature=0.4)
    panel = nbllm.ParamsPanel(llm)
    assert "max_tokens" not in panel.copy.code
    panel.max_tokens.value = 50  # what moving the slider does
    code = panel.copy.code
    assert code == panel.as_code() and "max_tokens=50" in code and "top_p" not in code
    again = run(code)
    assert isinstance(again["panel"], nbllm.ParamsPanel)
    assert again["llm"].params.set_values() == {"temperature": 0.4, "max_tokens": 50}
    panel.resets["temperature"].click()
    assert "temperature" not in panel.copy.code


def test_the_playground_writes_only_what_was_changed() -> None:
    llm = nbllm.LlamaCppLLM(cache=False, seed=7)
    playground = nbllm.Playground(llm, "Name a colour.")
    plain = playground.copy.code
    assert "nbllm.Playground(llm, " in plain and "Name a colour." in plain
    assert not any(k in plain for k in ("instruction=", "generator=", "runs=", "temperature="))
    playground.params.temperature.value = 0.3
    playground.params.resets["max_tokens"].click()  # unset, as it was: nothing to write
    playground.picker.value = "MajorVoteGenerator"
    playground.runs.value = 5
    playground.instruction.value = "Answer with one word."
    playground.prompt.value = 'Name a colour.\n---\nName a "fruit".'
    playground.params.fixed_seed.value = False  # unsets the seed the LLM has
    code = playground.copy.code
    assert "generation_params.update(seed=None)" in code
    again = run(code)["playground"]
    assert again.prompt.value == playground.prompt.value
    assert again.instruction.value == "Answer with one word."
    assert (again.picker.value, again.runs.value) == ("MajorVoteGenerator", 5)
    assert again.generation_params.set_values() == playground.generation_params.set_values()
    assert again.generation_params.set_values() == {"temperature": 0.3}


def test_the_token_tree_writes_the_picks_that_lead_to_the_branch_shown(
    embedded_session: nbllm.LlamaCppLLM,
) -> None:
    tree = nbllm.TokenTree(embedded_session, "Name a colour.", max_tokens=8, temperature=0.7)
    first = tree.ready.result(timeout=300)
    assert "tree.pick" not in tree.copy.code and "temperature=0.7" in tree.copy.code
    index = min(range(len(first.steps)), key=lambda i: first.steps[i].probability)
    other = next(token for token, _ in first.steps[index].alternatives if token != first.steps[index].token)
    tree.temperature.value = 1.3  # the fork is written with another temperature
    branch = tree.pick(other, at=index).result(timeout=300)
    tree.top_p.value = 0.5  # and the sliders moved since: the copy shows them as they are
    code = tree.copy.code
    assert "tree.temperature.value = 1.3\ntree.pick(" in code and code.index(
        "tree.top_p.value = 0.5"
    ) > code.index("tree.pick(")
    assert f"at={index}).result()" in code and "max_tokens=8" in code
    assert "cache=False" in code  # the LLM as it was made
    again = run(code)
    shown = again["tree"]
    assert shown.branch.fork_at == branch.fork_at
    assert [s.token for s in shown.branch.steps] == [s.token for s in branch.steps]
    assert (shown.temperature.value, shown.top_p.value) == (1.3, 0.5)


def test_a_key_is_never_written() -> None:
    llm = nbllm.OpenAILLM(
        model="some-model",
        base_url="http://ada:hunter2@127.0.0.1:9/v1",
        api_key="sk-do-not-copy-0042",
        temperature=0.2,
    )
    code = nbllm.ParamsPanel(llm).as_code()
    assert "sk-do-not-copy-0042" not in code and "api_key" in code  # the comment says where it goes
    assert "hunter2" not in code and "ada" not in code and "user and password" in code
    again = run(code)
    assert again["llm"].model == "some-model" and again["llm"].params.temperature == 0.2
    assert again["llm"].base_url == "http://127.0.0.1:9/v1"


def test_a_key_in_the_query_is_never_written_and_an_ipv6_address_keeps_its_brackets() -> None:
    llm = nbllm.OpenAILLM(model="m", base_url="http://ada:hunter2@[::1]:8080/v1?api-key=sk-in-the-query-42")
    code = nbllm.ParamsPanel(llm).as_code()
    assert "sk-in-the-query-42" not in code and "hunter2" not in code and "(and query)" in code
    assert run(code)["llm"].base_url == "http://[::1]:8080/v1"

"""The token tree on real models: the embedded model's own distribution, and top_logprobs from
llama.cpp's server (OpenAI-compatible, on 127.0.0.1). Selecting sends nothing, a pick sends one
request, a branch seen before sends none, and the sliders say which alternatives are allowed."""

from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path

import pytest

import nbllm
from nbllm.core.tokens import TokenStep, allowed
from tests.servers.conftest import ALIAS, KEY, llama_server

pytestmark = pytest.mark.timeout(600)
PROMPT = "What is the capital of France?"


def check_tree(tree: nbllm.TokenTree) -> None:
    first = tree.ready.result(timeout=300)
    assert tree.requests == 1 and first.steps and tree.text == first.text
    for step in first.steps:
        assert step.alternatives and 0 < step.probability <= 1
        logprobs = [lp for _, lp in step.alternatives]
        assert logprobs == sorted(logprobs, reverse=True)  # most likely first
        assert sum(math.exp(lp) for lp in logprobs) <= 1.0001  # real probabilities, not renormalised
    index = min(range(len(first.steps)), key=lambda i: first.steps[i].probability)
    rows = tree.select(index)
    assert tree.requests == 1, "selecting a token must send nothing"
    assert [r["current"] for r in rows].count(True) == 1
    other = next(r["t"] for r in rows if not r["current"])
    branch = tree.pick(other).result(timeout=300)
    assert tree.requests == 2
    assert branch.parent == 0 and branch.fork_at == index
    assert [s.token for s in branch.steps[:index]] == [s.token for s in first.steps[:index]]
    assert branch.steps[index].token == other
    assert tree.current == branch.id and len(tree.view.branches) == 2
    # back and forth: shown at once, without a request
    assert tree.back() is first and tree.text == first.text
    assert tree.pick(other, at=index).result(timeout=60) is branch
    assert tree.go(0) is first
    assert tree.requests == 2
    assert next(r for r in tree.select(index) if r["t"] == other)["explored"]
    # a greedy sampler allows one token; a hot one with top_p 1 allows every one shown
    tree.temperature.value, tree.top_p.value = 0.0, 1.0
    assert sum(r["allowed"] for r in tree.view.alternatives) == 1
    tree.temperature.value = 1.5
    hot = tree.view.alternatives
    assert all(r["allowed"] for r in hot) or tree._truncation["top_k"] or tree._truncation["min_p"]
    assert tree.requests == 2
    with pytest.raises(nbllm.InvalidParameterError, match="alternatives"):
        tree.pick("not a token at all", at=index).result(timeout=60)


def test_the_embedded_model_s_tree(embedded_session: nbllm.LlamaCppLLM) -> None:
    tree = nbllm.TokenTree(embedded_session, PROMPT, max_tokens=16, seed=2, temperature=0.8)
    try:
        check_tree(tree)
    finally:
        tree.close()


def test_an_openai_compatible_server_s_tree(tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = llama_server(stack, tmp_path) + "/v1"
        # the server answers before its model is loaded (503): the tree retries as the engine does
        llm = nbllm.OpenAILLM(model=ALIAS, base_url=url, api_key=KEY, cache=False, max_retries=8)
        tree = nbllm.TokenTree(llm, PROMPT, max_tokens=16, seed=2, temperature=0.8)
        try:
            check_tree(tree)
        finally:
            tree.close()


def test_bad_settings_fail_before_anything_is_sent(embedded_session: nbllm.LlamaCppLLM) -> None:
    with pytest.raises(nbllm.InvalidParameterError, match="prompt"):
        nbllm.TokenTree(embedded_session, "  ")
    with pytest.raises(nbllm.InvalidParameterError, match="top_k"):
        nbllm.TokenTree(embedded_session, PROMPT, top_k=50)
    with pytest.raises(nbllm.UsageError, match="cannot show its token choices"):
        nbllm.TokenTree(object(), PROMPT)  # type: ignore[arg-type]


def test_which_alternatives_a_sampler_allows() -> None:
    step = TokenStep("a", math.log(0.5), [("a", math.log(0.5)), ("b", math.log(0.3)), ("c", math.log(0.15))])
    probs, exact = allowed(step.alternatives, temperature=1.0, top_p=0.7)
    assert [p > 0 for p in probs] == [True, True, False] and exact  # 0.5 + 0.3 reach 0.7
    assert probs[0] == pytest.approx(0.5 / 0.8)
    probs, exact = allowed(step.alternatives, temperature=1.0, top_p=1.0)
    assert all(p > 0 for p in probs) and not exact  # 5% of the mass lies beyond the shown tokens
    assert allowed(step.alternatives, temperature=0.0)[0] == [1.0, 0.0, 0.0]
    assert allowed(step.alternatives, temperature=1.0, min_p=0.5)[0][2] == 0.0  # 0.15 < 0.5 * 0.5
    # top_k renormalises before top_p, as llama.cpp does: 0.5 / 0.8 alone reaches 0.6
    probs, exact = allowed(step.alternatives, temperature=1.0, top_p=0.6, top_k=2)
    assert probs == [1.0, 0.0, 0.0] and exact
    assert allowed(step.alternatives, temperature=1.0, top_p=0.6)[0][1] > 0  # without top_k: 0.5 < 0.6
    assert not allowed(step.alternatives, temperature=1.0, top_p=0.6, top_k=40)[1]  # 40 kept, 3 shown


def test_openai_s_own_api_cannot_fork_and_says_so_before_sending() -> None:
    from nbllm.llms.openai.steps import token_steps as openai_steps

    llm = nbllm.OpenAILLM(model="gpt-4o-mini", api_key="sk-never-sent-anywhere-0")
    with pytest.raises(nbllm.UsageError, match="does not continue an unfinished answer"):
        openai_steps(llm.endpoint, llm, PROMPT, "The capital", 5, {})


def test_a_fork_in_the_shared_part_hangs_under_the_branch_that_wrote_it(
    embedded_session: nbllm.LlamaCppLLM,
) -> None:
    tree = nbllm.TokenTree(embedded_session, PROMPT, max_tokens=12, seed=2, temperature=0.8)
    try:
        first = tree.ready.result(timeout=300)
        assert len(first.steps) >= 4
        late = next(r["t"] for r in tree.select(3) if not r["current"])
        one = tree.pick(late, at=3).result(timeout=300)
        assert (one.parent, one.fork_at, one.depth) == (0, 3, 1)
        # from branch 1, a token before its fork: that token is the first answer's, so is the fork
        early = next(r["t"] for r in tree.select(1) if not r["current"])
        two = tree.pick(early, at=1, branch=one.id).result(timeout=300)
        assert (two.parent, two.fork_at, two.depth) == (0, 1, 1)
        # drawn as it forked: under the first answer, its forks in token order
        drawn = [(b["id"], b["depth"]) for b in tree.view.branches]
        assert drawn == [(0, 0), (two.id, 1), (one.id, 1)]
        # one numbering: what the widget says is what the code takes
        labels = [b["label"] for b in tree.view.branches]
        assert labels[0] == "branch #0: the first answer"
        assert labels[1].startswith(f"branch #{two.id}: at token #1, ") and "(from branch #0)" in labels[1]
        assert f"branch #{two.id} of 3 branches" in tree.view.status
        assert tree.go(two.id) is two and tree.select(1)
    finally:
        tree.close()

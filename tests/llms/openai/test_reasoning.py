"""Reasoning models end to end: their parameters, their thinking and what it costs.

Two servers on 127.0.0.1: llama.cpp's real server splitting the embedded model's real thinking
into ``reasoning_content`` (tests/servers/reasoning_server.py), and, for what no server here can
show (OpenAI's refusals and usage details, vLLM's and OpenRouter's ``reasoning`` field), a
conformance server that answers as each provider's documentation says
(tests/servers/openai_conformance.py: a wire-format fixture, never the only proof).
"""

from __future__ import annotations

import pytest

import nbllm
from nbllm import Budget, ReasoningDelta, UnsupportedParameterError
from nbllm.notebook.compare.comparison import compare
from nbllm.notebook.compare.scorers import contains

QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."


def conformance_llm(server, model: str, **settings) -> nbllm.OpenAILLM:
    settings.setdefault("cache", False)
    return nbllm.OpenAILLM(model=model, base_url=server.url, **settings)


# -- OpenAI's reasoning models, as OpenAI documents them ---------------------------------------
def test_max_tokens_reaches_a_reasoning_model_as_max_completion_tokens(openai_conformance) -> None:
    openai_conformance.reset()
    llm = conformance_llm(openai_conformance, "gpt-5-mini")
    (output,) = llm.generate(QUESTION, max_tokens=300)
    generation = output.raise_for_errors().generations[0]
    (body,) = openai_conformance.requests()
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert generation.text == ANSWER
    assert generation.reasoning is None  # OpenAI hides the thinking ...
    assert generation.stats.reasoning_tokens == 192  # ... and reports its tokens (medium effort)
    assert generation.stats.output_tokens == 192 + len(ANSWER.split())
    assert generation.stats.answer_tokens == len(ANSWER.split())
    assert not generation.stats.reasoning_estimated


def test_max_completion_tokens_is_taken_as_the_same_bound(openai_conformance) -> None:
    openai_conformance.reset()
    llm = conformance_llm(openai_conformance, "gpt-5-mini", max_completion_tokens=250)
    assert llm.params.max_tokens == 250
    llm.generate(QUESTION)[0].raise_for_errors()
    assert openai_conformance.requests()[0]["max_completion_tokens"] == 250


def test_a_sampling_parameter_a_reasoning_model_refuses_fails_before_any_request(openai_conformance) -> None:
    openai_conformance.reset()
    llm = conformance_llm(openai_conformance, "gpt-5-mini")
    with pytest.raises(UnsupportedParameterError, match=r"gpt-5-mini does not take temperature=0\.2") as info:
        llm.generate(QUESTION, temperature=0.2)
    assert info.value.field == "temperature"
    with pytest.raises(
        UnsupportedParameterError, match="it takes reasoning_effort minimal, low, medium, high"
    ):
        llm.generate(QUESTION, reasoning_effort="none")
    assert openai_conformance.requests() == []
    llm.generate(QUESTION, temperature=1)[0].raise_for_errors()  # the default is taken


@pytest.mark.parametrize(("effort", "thinking"), [("minimal", 0), ("low", 64), ("high", 512)])
def test_reasoning_effort_reaches_the_model(openai_conformance, effort: str, thinking: int) -> None:
    llm = conformance_llm(openai_conformance, "gpt-5-mini")
    generation = llm.generate(QUESTION, reasoning_effort=effort)[0].raise_for_errors().generations[0]
    assert generation.stats.reasoning_tokens == thinking


def test_verbosity_reaches_the_model(openai_conformance) -> None:
    llm = conformance_llm(openai_conformance, "gpt-5-mini")
    assert llm(QUESTION, verbosity="low") == "Paris."


def test_an_endpoint_unknown_by_name_is_learnt_from_its_refusals(openai_conformance) -> None:
    """A deployment name nbllm cannot know: its first refusals are read and remembered."""
    openai_conformance.reset()
    llm = conformance_llm(openai_conformance, "my-deployment")
    (output,) = llm.generate(QUESTION, max_tokens=300)  # refused, repaired, sent again
    assert output.raise_for_errors().generations[0].text == ANSWER
    first, second = openai_conformance.requests()
    assert "max_tokens" in first and second["max_completion_tokens"] == 300
    assert "max_tokens_field" in llm.capabilities
    (output,) = llm.generate(QUESTION, reasoning_effort="minimal")  # refused: its own row fails
    assert isinstance(output.errors[0], UnsupportedParameterError)
    assert "remembers this" in str(output.errors[0])
    sent = len(openai_conformance.requests())
    with pytest.raises(UnsupportedParameterError, match="it takes reasoning_effort low, medium, high"):
        llm.generate(QUESTION, reasoning_effort="minimal")  # said before the next request
    (output,) = llm.generate(QUESTION, temperature=0.3)  # a refused value: that row only
    assert output.errors and "temperature" in str(output.errors[0])
    with pytest.raises(UnsupportedParameterError, match="temperature"):
        llm.generate(QUESTION, temperature=0.5)
    assert len(openai_conformance.requests()) == sent + 1
    assert llm.parameter_support().refused.keys() == {"temperature"}


def test_extra_body_reaches_the_server_and_keys_the_cache(openai_conformance, tmp_path) -> None:
    llm = conformance_llm(
        openai_conformance, "vllm/qwen3", cache=True, cache_path=str(tmp_path / "c.sqlite3")
    )
    off = {"chat_template_kwargs": {"enable_thinking": False}}
    openai_conformance.reset()
    quiet = llm.generate(QUESTION, extra_body=off)[0].raise_for_errors().generations[0]
    thinking = llm.generate(QUESTION)[0].raise_for_errors().generations[0]
    assert openai_conformance.requests()[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert quiet.reasoning is None and thinking.reasoning
    again = llm.generate(QUESTION, extra_body=off)[0].generations[0]
    assert again.stats.cache_hit and again.reasoning is None
    assert len(openai_conformance.requests()) == 2


# -- open reasoning models: the thinking in a field, or inline ---------------------------------
@pytest.mark.parametrize(
    "model", ["vllm/qwen3", "vllm-old/qwen3", "openrouter/deepseek-r1", "qwen3-noparser"]
)
def test_open_models_thinking_is_kept_apart_from_the_answer(openai_conformance, model: str) -> None:
    llm = conformance_llm(openai_conformance, model)
    generation = llm.generate(QUESTION)[0].raise_for_errors().generations[0]
    assert generation.text == ANSWER
    assert generation.reasoning is not None and generation.reasoning.startswith("The user asks:")
    assert "<think>" not in generation.text and "</think>" not in generation.text
    assert 0 < generation.stats.reasoning_tokens < generation.stats.output_tokens
    pieces = list(llm.stream(QUESTION, thinking=True, fresh=True))
    thoughts = "".join(p for p in pieces if isinstance(p, ReasoningDelta))
    answer = "".join(p for p in pieces if not isinstance(p, ReasoningDelta))
    assert answer == ANSWER and thoughts.strip() == generation.reasoning
    first_answer = next(i for i, p in enumerate(pieces) if not isinstance(p, ReasoningDelta))
    assert all(isinstance(p, ReasoningDelta) for p in pieces[:first_answer])  # thinking comes first
    assert "".join(llm.stream(QUESTION, fresh=True)) == ANSWER  # by default, the answer alone


def test_the_answer_alone_is_judged_and_thinking_is_charged_as_output(openai_conformance) -> None:
    budget = Budget(price_per_input_token=1e-6, price_per_output_token=1e-5)
    llm = conformance_llm(openai_conformance, "vllm/qwen3", budget=budget)
    (output,) = llm.generate(QUESTION)
    stats = output.generations[0].stats
    assert budget.cost == pytest.approx(stats.input_tokens * 1e-6 + stats.output_tokens * 1e-5)
    assert budget.reasoning_tokens == stats.reasoning_tokens > 0
    meter = nbllm.CostMeter(llm)
    assert f"({stats.reasoning_tokens} of them thinking)" in meter.value
    frame = output.to_dataframe()
    assert frame.loc[0, "generation"] == ANSWER
    assert frame.loc[0, "reasoning"].startswith("The user asks:")
    assert frame.loc[0, "reasoning_tokens"] == stats.reasoning_tokens
    assert "thinking" in output._repr_html_()


def test_compare_answers_does_more_thinking_pay(openai_conformance) -> None:
    budget = Budget(price_per_input_token=1e-6, price_per_output_token=1e-5)
    llm = conformance_llm(openai_conformance, "gpt-5-mini", budget=budget)
    result = compare(
        [QUESTION, "What is 2 + 2?"],
        llm=llm,
        params=[{"reasoning_effort": "low"}, {"reasoning_effort": "high"}],
        scorers={"paris": contains("Paris")},
        samples=2,
        progress=False,
    )
    table = result.cost_table().set_index("variant")
    low, high = table.loc["reasoning_effort=low"], table.loc["reasoning_effort=high"]
    assert (low["thinking tokens"], high["thinking tokens"]) == (64, 512)
    assert high["cost"] > low["cost"] > 0
    assert low["answer tokens"] == high["answer tokens"]
    assert low["paris"] == high["paris"] == 0.5
    assert "score the same on 'paris'" in high["paris vs reasoning_effort=low"]
    figure = result.plot_cost("paris")
    assert figure.axes[0].get_xlabel() == "cost"


# -- a real server's real thinking ----------------------------------------------------------------
@pytest.mark.slow
def test_a_real_servers_thinking_is_read_in_answers_samples_and_streams(reasoning_llama_server) -> None:
    server = reasoning_llama_server
    llm = nbllm.OpenAILLM(
        model=server.model, base_url=server.url, cache=False, extra_body=server.extra_body, max_tokens=200
    )
    (output,) = llm.generate("Why is the sky blue?", num_generations=3, temperature=0.8)
    for generation in output.raise_for_errors().generations:
        assert generation.reasoning, generation
        assert generation.text and "</think>" not in generation.text and "<think>" not in generation.text
        assert 0 < generation.stats.reasoning_tokens < generation.stats.output_tokens
    pieces = list(llm.stream("Name a colour.", thinking=True, seed=3))
    thoughts = [p for p in pieces if isinstance(p, ReasoningDelta)]
    answer = "".join(p for p in pieces if not isinstance(p, ReasoningDelta))
    last = llm.last_generation
    assert thoughts and answer == last.text and "".join(thoughts).strip() == last.reasoning
    reply = llm.chat("Say hi.")
    assert reply == llm.history[-1]["content"] and "</think>" not in reply


@pytest.mark.slow
def test_the_embedded_model_writing_an_inline_think_block_is_split(embedded) -> None:
    grammar = 'root ::= "<think>" [a-z ]{5,40} "</think>" " " [A-Za-z ]{1,30}'
    generation = embedded.generate(QUESTION, extra_body={"grammar": grammar}, temperature=0)[0]
    generation = generation.raise_for_errors().generations[0]
    assert generation.reasoning and "<think>" not in generation.text and generation.text.strip()
    assert generation.stats.reasoning_estimated and generation.stats.reasoning_tokens > 0
    streamed = list(embedded.stream(QUESTION, extra_body={"grammar": grammar}, temperature=0, thinking=True))
    assert "".join(p for p in streamed if not isinstance(p, ReasoningDelta)) == generation.text


def test_a_scorer_may_ask_for_the_thinking_by_name(openai_conformance) -> None:
    llm = conformance_llm(openai_conformance, "vllm/qwen3")
    seen: list[str | None] = []

    def thought_about_it(answer: str, reasoning: str | None) -> bool:
        seen.append(reasoning)
        return reasoning is not None and "recall" in reasoning

    result = compare(
        [QUESTION],
        llm=llm,
        params=[{"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}}, {}],
        scorers={"thought": thought_about_it, "paris": contains("Paris")},
        progress=False,
    )
    table = result.score_table().set_index("variant")
    assert list(table["thought"]) == [0.0, 1.0]  # the answer alone never holds the thinking
    assert list(table["paris"]) == [1.0, 1.0]
    assert seen[0] is None and "recall" in seen[1]


def test_an_estimate_before_a_grid_says_thinking_makes_its_output_uncertain(openai_conformance) -> None:
    from nbllm.notebook.compare.estimate import estimate_run

    thinking = estimate_run(
        conformance_llm(openai_conformance, "gpt-5-mini"), [QUESTION], 2, {"max_tokens": 50}
    )
    assert "thinks before it answers" in thinking.describe()
    plain = estimate_run(
        conformance_llm(openai_conformance, "gpt-4o-mini"), [QUESTION], 2, {"max_tokens": 50}
    )
    assert "thinks" not in plain.describe()


def test_gpt_5_1_samples_at_its_default_effort_and_refuses_sampling_when_it_thinks(
    openai_conformance,
) -> None:
    llm = conformance_llm(openai_conformance, "gpt-5.1")
    assert llm(QUESTION, temperature=0.2) == ANSWER  # its default effort is none
    with pytest.raises(UnsupportedParameterError, match="temperature"):
        llm.generate(QUESTION, temperature=0.2, reasoning_effort="low")
    generation = llm.generate(QUESTION, reasoning_effort="low")[0].raise_for_errors().generations[0]
    assert generation.stats.reasoning_tokens == 64


def test_thinking_and_the_new_parameters_survive_a_bundle_a_checkpoint_and_copy_as_code(
    openai_conformance, tmp_path
) -> None:
    settings = {
        "extra_body": {"chat_template_kwargs": {"enable_thinking": True}},
        "max_completion_tokens": 80,
    }
    bundle = tmp_path / "lesson.nbllm"
    with nbllm.record(bundle):
        live = conformance_llm(openai_conformance, "vllm/qwen3", **settings)
        recorded = live.generate(QUESTION)[0].raise_for_errors().generations[0]
    openai_conformance.reset()
    with nbllm.replay(bundle):
        again = conformance_llm(openai_conformance, "vllm/qwen3", **settings)
        replayed = again.generate(QUESTION)[0].raise_for_errors().generations[0]
    assert openai_conformance.requests() == []  # served from the bundle
    assert replayed.stats.recorded and replayed.text == recorded.text == ANSWER
    assert replayed.reasoning == recorded.reasoning and replayed.reasoning
    assert replayed.stats.reasoning_tokens == recorded.stats.reasoning_tokens > 0

    path = live.save_checkpoint(tmp_path / "llm.json")
    back = nbllm.OpenAILLM.from_checkpoint(path)
    assert back.params.set_values() == live.params.set_values()
    assert back.params.max_tokens == 80

    code = nbllm.ParamsPanel(live).as_code()
    namespace: dict = {}
    exec(code, namespace)  # the copied cell runs and makes the same LLM
    assert namespace["llm"].params.set_values() == live.params.set_values()

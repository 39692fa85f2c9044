"""Widgets tested headlessly on the embedded model: set values, click, check the LLM and outputs."""

from __future__ import annotations

import re
import time

import pytest

import nbllm
from nbllm import BudgetExceededError, ChatWidget, CostMeter, GeneratorPicker, ParamsPanel, Playground
from nbllm.generators import Job, MajorVoteGenerator

pytestmark = pytest.mark.slow


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def test_params_panel_is_bound_both_ways(embedded) -> None:
    embedded.params.temperature = 0.3
    panel = ParamsPanel(embedded)
    assert panel.temperature.value == 0.3 and panel.max_tokens.value == 256
    assert not panel.temperature.continuous_update and not panel.top_p.continuous_update
    panel.temperature.value = 1.4
    panel.top_p.value = 0.5
    assert embedded.params.temperature == 1.4 and embedded.params.top_p == 0.5
    assert embedded.engine.log.entries == type(embedded.engine.log.entries)()  # no request was sent
    embedded.params.temperature = 0.9  # the panel follows the LLM
    assert panel.temperature.value == 0.9
    panel.fixed_seed.value = True
    panel.seed.value = 42
    assert embedded.params.seed == 42
    panel.fixed_seed.value = False
    assert embedded.params.seed is None
    embedded.params = nbllm.GenerationParams(temperature=0.1)
    assert panel.temperature.value == 0.1


def test_a_slider_writes_only_its_own_parameter() -> None:
    # a remote model: nbllm knows none of its defaults; nothing is sent to build the panel
    remote = nbllm.OpenAILLM(model="any", base_url="http://127.0.0.1:9/v1", api_key="sk-x")
    panel = ParamsPanel(remote)
    assert remote.params.set_values() == {}
    assert all(panel.notes[n].value == "<i>model default</i>" for n in ("temperature", "top_p", "max_tokens"))
    assert not panel.temperature.readout and not panel.max_tokens.readout  # no number claimed
    panel.temperature.value = 0.2
    assert remote.params.set_values() == {"temperature": 0.2}  # before: top_p 0.95, max_tokens 256
    assert panel.temperature.readout and panel.notes["temperature"].value == ""
    assert panel.resets["temperature"].layout.visibility == "visible"
    panel.resets["temperature"].click()
    assert remote.params.set_values() == {} and panel.notes["temperature"].value == "<i>model default</i>"


def test_unset_parameters_show_the_backends_own_defaults(embedded) -> None:
    embedded.params = nbllm.GenerationParams()
    panel = ParamsPanel(embedded)
    defaults = embedded.default_params()
    assert panel.notes["max_tokens"].value == f"<i>model default ({defaults['max_tokens']})</i>"
    assert panel.temperature.value == defaults["temperature"]  # the model card's, said as such
    assert f"({defaults['temperature']:g})" in panel.notes["temperature"].value
    panel.top_p.value = 0.5
    assert embedded.params.set_values() == {"top_p": 0.5}
    playground = Playground(embedded, prompt="x")
    assert "model default" in playground.params.notes["temperature"].value
    embedded.params = nbllm.GenerationParams()


def test_generator_picker_lists_and_builds(embedded) -> None:
    picker = GeneratorPicker()
    assert set(picker.dropdown.options) >= {"Generator", "AsyncGenerator", "MajorVoteGenerator"}
    picker.value = "MajorVoteGenerator"
    assert "majority" in picker.help.value
    built = picker.build(Job(instruction="x", template="{q}"), embedded, runs=3)
    assert isinstance(built, MajorVoteGenerator) and built.num_votes == 3


def test_playground_run_button_fills_table_and_plot(embedded) -> None:
    playground = Playground(embedded, prompt="Name a colour.\n---\nName a fruit.")
    playground.params.max_tokens.value = 10
    playground.picker.value = "AsyncGenerator"
    playground.runs.value = 2
    playground.run_button.click()
    wait_for(lambda: not playground.run_button.disabled and playground.results is not None)
    assert "done" in playground.status.value
    assert [len(r) for r in playground.results] == [2, 2]
    html = playground.table.outputs[0]["data"]["text/html"]
    assert "4</b> generations" in html
    assert "image/png" in playground.plot.outputs[0]["data"]
    # the dropdown changes what Run does; a vote has three voters by default (two tie)
    playground.picker.value = "MajorVoteGenerator"
    playground.runs.value = Playground(embedded).runs.value
    assert playground.runs.value == 3
    future = playground.run()
    wait_for(lambda: future.done() and not playground.run_button.disabled)
    vote = future.result()[0]
    assert type(vote).__name__ == "VoteResult" and len(vote.candidates) == 3
    html = playground.table.outputs[0]["data"]["text/html"]
    assert "<th>votes</th>" in html and "× " in html  # every answer with its count, not only the winner
    frame = nbllm.to_dataframe(future.result())
    assert sum(int(part.split("×")[0]) for part in frame["votes"][0].split(" | ")) == 3


def marks(row) -> str:
    """What a chat row says beside its message box (its buttons' and marks' text)."""
    return " ".join(str(getattr(c, "value", "")) for c in row.children[2].children)


def test_chat_widget_streams_and_edits_with_branches(embedded) -> None:
    chat = ChatWidget(embedded, max_tokens=12)
    reply = chat.send("My name is Ann.").result(timeout=60)
    assert reply and embedded.history[-1] == {"role": "assistant", "content": reply}
    assert len(chat.transcript.children) == 2
    chat.send("What is my name?").result(timeout=60)
    assert len(embedded.history) == 4
    # editing the first turn forks: a new branch from there, the old one kept
    chat.edit(0, "My name is Bob.").result(timeout=60)
    assert embedded.history[0]["content"] == "My name is Bob." and len(embedded.history) == 2
    assert len(chat.branches) == 2 and len(chat.branches[0]) == 4
    # each branch is named by its words: where it leaves the first one
    assert chat.branch.options == ("1: “My name is Ann.” · 4 messages", "2: “…name is Bob.” · 2 messages")
    chat.branch.index = 0
    assert len(embedded.history) == 4 and embedded.history[0]["content"] == "My name is Ann."
    # regenerate gives a fresh sample of the last reply
    before = embedded.history[-1]["content"]
    chat.regenerate().result(timeout=60)
    assert len(embedded.history) == 4 and embedded.history[-2]["content"] == "What is my name?"
    assert isinstance(before, str)
    chat.delete(3)
    assert len(embedded.history) == 3 and len(chat.transcript.children) == 3
    # an edit not saved yet is marked, and saving it clears the mark
    box = chat.transcript.children[0].children[1]
    save, _, marker = chat.transcript.children[0].children[2].children
    # every row is laid out alike: role, box at a fixed share, then its buttons and marks
    assert {row.children[1].layout.flex for row in chat.transcript.children} == {"0 0 60%"}
    assert marker.layout.width == "110px"  # the mark's room is kept, so it never moves the row
    assert save.disabled and marker.value == ""
    box.value = "My name is Cy."
    assert "unsaved edit" in marker.value and not save.disabled
    box.value = embedded.history[0]["content"]
    assert marker.value == "" and save.disabled
    # a history set in code that does not continue the shown one is a new branch; the old stays
    shown = [dict(m) for m in embedded.history]
    branches = len(chat.branches)
    embedded.history = []
    assert chat.transcript.children == ()
    assert len(chat.branches) == branches + 1 and chat.branches[chat.branch.index] == []
    assert shown in chat.branches
    # a continuation made in code (llm.chat) extends the shown branch
    embedded.chat("Hello.", max_tokens=6)
    assert len(chat.branches) == branches + 1 and chat.branches[chat.branch.index] == embedded.history
    assert len(chat.transcript.children) == 2
    # a message sent while a reply streams shows at once as queued, as the box empties
    first = chat.send("Tell me a story.")
    chat.message.value = "And another."
    second = chat.send()
    assert chat.message.value == ""
    last = chat.transcript.children[-1]
    assert last.children[1].value == "And another." and "queued" in last.children[2].children[0].value
    first.result(timeout=60), second.result(timeout=60)


def test_a_message_sent_while_a_reply_streams_waits_its_turn(embedded) -> None:
    from nbllm.engine import callbacks

    embedded.history = []
    chat = ChatWidget(embedded, max_tokens=60, temperature=0.0)
    first = chat.send("Please tell me a long story about a cat named Tom.")
    wait_for(lambda: chat._live is not None and chat._live.value)  # the reply is streaming
    second = chat.send("Second message: what is 2+2?")  # Enter again, before the reply ends
    queued = [row for row in chat.transcript.children if "queued" in marks(row)]
    assert len(queued) == 1 and queued[0].children[1].value == "Second message: what is 2+2?"
    assert "1 message queued" in chat.status.value
    assert callbacks.call(lambda: "free").result(timeout=5) == "free"  # the stream does not hold it
    assert not first.done()
    story, answer = first.result(timeout=120), second.result(timeout=120)
    assert [m["role"] for m in embedded.history] == ["user", "assistant", "user", "assistant"]
    assert embedded.history[1]["content"] == story and embedded.history[3]["content"] == answer
    assert story != answer and embedded.history[2]["content"] == "Second message: what is 2+2?"
    # the second request held the whole conversation, the first reply included
    assert embedded.last_generation is not None and chat.status.value.endswith("tok/s")
    assert not any("queued" in marks(row) for row in chat.transcript.children)


def test_chat_sends_on_enter(embedded) -> None:
    chat = ChatWidget(embedded, max_tokens=8)
    chat.message.value = "Hi there.\nHow are you?"  # Shift+Enter typed a newline
    chat.message._handle(chat.message, {"event": "submit", "text": chat.message.value}, [])  # Enter
    wait_for(lambda: len(embedded.history) == 2 and chat.send_button.disabled is False)
    assert embedded.history[0] == {"role": "user", "content": "Hi there.\nHow are you?"}
    assert chat.message.value == ""


def test_cost_meter_and_budget_stop_a_batch(embedded) -> None:
    meter = CostMeter(embedded, price_per_input_token=0.001, price_per_output_token=0.002, max_cost=0.25)
    outputs = embedded.generate(
        [f"Say the word {w}." for w in ("one", "two", "three", "four", "five")], max_tokens=20
    )
    errors = [g.error for o in outputs for g in o.generations]
    assert errors[0] is None and isinstance(errors[-1], BudgetExceededError)
    assert "budget of 0.25 would be exceeded" in str(errors[-1])
    assert meter.budget.cost <= 0.25 and meter.budget.requests == sum(e is None for e in errors)
    assert "total" in meter.value and f"{meter.budget.requests} requests" in meter.value


def test_human_verification_widget_decides_the_vote(embedded) -> None:
    widget = nbllm.HumanVerification()
    job = Job(instruction="Name a colour.", template="{q}", params={"max_tokens": 8, "temperature": 1.0})
    generator = MajorVoteGenerator(job, embedded, num_votes=3, mode="human", human_callback=widget.callback)
    future = generator.submit("any colour")
    wait_for(lambda: not widget.choose.disabled)
    assert len(widget.choices.options) >= 1
    widget.choices.index = len(widget.choices.options) - 1
    widget.choose.click()
    vote = future.result(timeout=30)
    assert vote.decided_by == "human" and vote.winner_text in widget.choices.options[-1]


def test_temperature_explorer_uses_real_probabilities(embedded) -> None:
    import html
    import math

    explorer = nbllm.TemperatureExplorer(
        embedded, "What is the capital of France?", "The capital of France is", top_n=8
    )
    assert explorer.tokens_logprobs[0][0].strip() == "Paris"
    # the whole vocabulary, not a renormalised top 8
    assert len(explorer.tokens_logprobs) > 40_000
    assert sum(math.exp(lp) for _, lp in explorer.tokens_logprobs) == pytest.approx(1.0, abs=1e-3)
    # 'Paris' is so likely that min_p keeps nothing else; a question with many answers shows more
    assert "keeps <b>1</b> token, with 1% or more." in explorer.samples.value
    assert "other" not in explorer.samples.value  # no rest to speak of when there is none
    explorer.prompt.value = "Name a colour."
    explorer.answer_prefix.value = "My favourite colour is"
    explorer.temperature.value = 1.0
    explorer.top_p.value = 1.0
    model = [math.exp(lp) for _, lp in explorer.tokens_logprobs]
    drawn = explorer.probabilities
    assert drawn[0] >= model[0]  # top_k and min_p cut the tail; nothing else changed at T=1
    explorer.temperature.value = 0.0
    assert explorer.probabilities[0] == 1.0
    assert "keeps <b>1</b> token," in explorer.samples.value
    explorer.temperature.value = 0.05
    kept = sum(p > 0 for p in explorer.probabilities)
    assert f"keeps <b>{kept}</b> token" in explorer.samples.value
    visible = sum(p >= 0.01 for p in explorer.probabilities)
    assert kept > visible and f"<b>{visible}</b> of them with 1% or more" in explorer.samples.value
    assert f"the other {kept - visible} too little to show" in explorer.samples.value  # as charted
    explorer.temperature.value = 2.0
    hot = explorer.probabilities
    assert hot[0] < drawn[0] and sum(p > 0 for p in hot) > 8
    assert "image/png" in explorer.chart.outputs[0]["data"]
    # fresh samples on every update: at T=1.2 the most likely token shows up among them
    explorer.temperature.value = 1.2
    seen = set()
    for top_p in (0.95, 0.9, 0.85, 0.8, 0.75):
        explorer.top_p.value = top_p
        seen.add(explorer.samples.value.split("fresh samples:")[1])
    top = html.escape(repr(explorer.tokens_logprobs[0][0]))
    assert len(seen) == 5 and any(top in s for s in seen)


def test_cost_meter_this_run_starts_with_each_cell(tmp_path) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from tests.scripted import ScriptedLLM

    config = Config()
    config.HistoryManager.enabled = False
    # The shell stays for the rest of the session (ipywidgets formats outputs with it); with its
    # history off, exit has no database to close from another thread.
    shell = InteractiveShell.instance(config=config)
    shell.user_ns["llm"] = ScriptedLLM(cache=False)
    shell.run_cell(
        "import nbllm\nmeter = nbllm.CostMeter(llm, price_per_input_token=1, price_per_output_token=1)"
    )
    shell.run_cell("out = llm.generate(['a', 'b'])")
    meter = shell.user_ns["meter"]
    assert meter.run_tokens == (6, 4)  # two generations of 3 in and 2 out tokens
    shell.run_cell("out = llm.generate(['c'])")
    assert meter.run_tokens == (3, 2)  # before: "this run" kept counting from the start
    assert (meter.budget.input_tokens, meter.budget.output_tokens) == (9, 6)
    assert "<b>this run</b>: 3 in / 2 out" in meter.value


def test_playground_keeps_its_own_parameters_and_reports_progress() -> None:
    from tests.scripted import ScriptedLLM

    llm = ScriptedLLM(cache=False, delay=0.05)
    llm.params.temperature = 0.3
    playground = Playground(llm, prompt="one\n---\ntwo\n---\nthree")
    playground.params.temperature.value = 1.5
    assert llm.params.temperature == 0.3  # before: the sliders wrote into llm.params
    assert playground.runs.layout.visibility == "hidden"  # runs/votes means nothing for Generator
    playground.picker.value = "AsyncGenerator"
    assert playground.runs.layout.visibility == "visible"
    playground.runs.value = 2
    seen: list[str] = []
    playground.status.observe(lambda change: seen.append(change["new"]), names="value")
    playground.run().result(timeout=30)
    wait_for(lambda: "done:" in playground.status.value)  # "n of m done" comes before
    assert {r.params["temperature"] for runs in playground.results for r in runs} == {1.5}
    assert any("of 6 done" in s for s in seen) and any("6 of 6 done" in s for s in seen)
    playground.run()
    assert "previous run" in playground.stale.value  # the old table is marked while a run is going
    wait_for(lambda: "done:" in playground.status.value and not playground.stale.value)
    playground.apply()
    assert llm.params.temperature == 1.5


def test_cost_meter_run_restarts_with_each_playground_run() -> None:
    from tests.scripted import ScriptedLLM

    llm = ScriptedLLM(cache=False)
    meter = CostMeter(llm, price_per_input_token=1, price_per_output_token=1)
    playground = Playground(llm, prompt="one\n---\ntwo")
    playground.run().result(timeout=30)
    wait_for(lambda: "done:" in playground.status.value)
    first = meter.run_tokens
    assert first[1] > 0 and meter.budget.output_tokens == first[1]
    playground.run().result(timeout=30)
    wait_for(lambda: meter.budget.requests == 4)
    assert meter.run_tokens[1] < meter.budget.output_tokens  # "this run" is the second run only
    assert sum(meter.run_tokens) == sum(first)  # the same prompts again: the same tokens


def test_the_playground_shows_what_its_next_run_costs_and_refuses_one_over_the_budget(embedded) -> None:
    playground = Playground(embedded, prompt="Name a colour.\n---\nName a fruit.")
    wait_for(lambda: "next run:" in playground.estimate.value, timeout=120)
    line = playground.estimate.value
    assert "2 requests to send" in line and "SmolLM2-135M-Instruct&#x27;s tokenizer" in line
    playground.params.max_tokens.value = 7
    wait_for(lambda: "at most 14 output" in playground.estimate.value, timeout=60)  # follows the sliders
    CostMeter(embedded, price_per_input_token=1e-3, price_per_output_token=1e-3, max_cost=0.01)
    future = playground.run()
    with pytest.raises(BudgetExceededError, match="nothing was sent"):
        future.result(timeout=10)
    assert "BudgetExceededError" in playground.status.value
    assert embedded.budget.requests == 0 and playground.results is None
    embedded.budget.max_cost = 10.0
    playground.run().result(timeout=120)
    wait_for(lambda: "done:" in playground.status.value, timeout=60)
    assert "took" in playground.status.value and embedded.budget.requests == 2
    # after the run, the next one is counted again: both answers are cached now
    wait_for(lambda: "0 requests to send (2 held by the cache" in playground.estimate.value, timeout=60)


def test_temperature_explorer_prompt_is_editable(embedded) -> None:
    explorer = nbllm.TemperatureExplorer(
        embedded, "What is the capital of France?", "The capital of France is", top_n=8
    )
    assert "The sampler (top_k=" in explorer.samples.value
    before = explorer.tokens_logprobs
    explorer.prompt.value = "What is the capital of Italy?"
    explorer.answer_prefix.value = "The capital of Italy is"
    assert explorer.tokens_logprobs != before and explorer.tokens_logprobs[0][0].strip() == "Rome"


def test_cost_meter_keeps_the_budget_and_a_rerun_replaces_the_old_meter() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from tests.scripted import ScriptedLLM

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    llm = ScriptedLLM(cache=False)
    shell.user_ns["llm"] = llm
    llm.budget = nbllm.Budget(max_cost=5.0)
    hooks = len(shell.events.callbacks["pre_run_cell"])
    listeners = len(llm.engine.listeners)
    for _ in range(4):  # the cell run four times
        shell.run_cell("import nbllm\nmeter = nbllm.CostMeter(llm, price_per_input_token=1e-6)")
        shell.run_cell("out = llm.generate(['a'])")
    meter = shell.user_ns["meter"]
    assert llm.budget.max_cost == 5.0 and meter.budget is llm.budget  # the user's budget, kept
    assert llm.budget.price_per_input_token == 1e-6
    assert llm.budget.requests == 4  # totals survive a rerun of the meter's cell
    assert len(shell.events.callbacks["pre_run_cell"]) == hooks + 1
    assert len(llm.engine.listeners) == listeners + 1
    last_value = meter.value
    # gpt-4o-mini's prices: one request of 3 in and 2 out tokens costs $0.0000016500
    llm.budget = nbllm.Budget(price_per_input_token=0.15e-6, price_per_output_token=0.6e-6)
    fresh = nbllm.CostMeter(llm)
    llm.generate(["b"])
    wait_for(lambda: "1 request " in fresh.value)
    assert "in 4 requests" in last_value  # counted before it was replaced
    assert re.search(r"\$0\.00000(16|17) ", fresh.value), fresh.value  # two significant digits
    assert "replaced by a newer CostMeter" in meter.value


def test_params_panel_offers_a_reasoning_model_only_what_it_takes() -> None:
    llm = nbllm.OpenAILLM(model="gpt-5-mini", api_key="sk-test", cache=False)
    panel = ParamsPanel(llm)
    assert panel.effort_row in panel.children
    assert [value for _, value in panel.reasoning_effort.options] == [
        None,
        "minimal",
        "low",
        "medium",
        "high",
    ]
    assert panel.temperature.disabled and panel.top_p.disabled
    assert "not taken by gpt-5-mini" in panel.notes["temperature"].value
    assert not panel.max_tokens.disabled
    panel.reasoning_effort.value = "low"
    assert llm.params.reasoning_effort == "low"
    assert 'reasoning_effort="low"' in panel.as_code()
    llm.params.reasoning_effort = "high"  # code moves the dropdown
    assert panel.reasoning_effort.value == "high"
    panel.reasoning_effort.value = None
    assert llm.params.reasoning_effort is None


def test_params_panel_enables_sampling_where_the_effort_allows_it() -> None:
    panel = ParamsPanel(nbllm.OpenAILLM(model="gpt-5.1", api_key="sk-test", cache=False))
    assert "none" in [value for _, value in panel.reasoning_effort.options]
    assert not panel.temperature.disabled  # gpt-5.1 samples at effort none, its default
    panel.reasoning_effort.value = "high"
    assert panel.temperature.disabled
    panel.reasoning_effort.value = "none"
    assert not panel.temperature.disabled
    panel.temperature.value = 0.4
    assert panel.llm.params.temperature == 0.4


def test_params_panel_hides_the_effort_where_a_model_has_none(embedded) -> None:
    panel = ParamsPanel(embedded)
    assert panel.effort_row not in panel.children
    assert not panel.temperature.disabled

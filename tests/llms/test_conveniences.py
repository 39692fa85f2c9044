"""The BaseLLM conveniences on the embedded model: chat, presets, summaries, checkpoints, logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbllm
from nbllm import InvalidInputError, LlamaCppLLM, UsageError
from tests.scripted import ScriptedLLM

pytestmark = pytest.mark.slow


def test_call_and_run_and_batch(embedded: LlamaCppLLM) -> None:
    assert embedded("Say hello.", max_tokens=8) == embedded.run("Say hello.", max_tokens=8)
    assert len(embedded.batch_run(["Say a.", "Say b."], max_tokens=8)) == 2


def test_chat_keeps_an_editable_history(embedded: LlamaCppLLM) -> None:
    reply = embedded.chat("My name is Ann.", max_tokens=20)
    assert embedded.history == [
        {"role": "user", "content": "My name is Ann."},
        {"role": "assistant", "content": reply},
    ]
    embedded.chat("What is my name?", max_tokens=20)
    assert len(embedded.history) == 4
    embedded.history = embedded.history[:2]  # edit it as a list
    embedded.history[0]["content"] = "My name is Bob."
    embedded.chat("And again?", max_tokens=10)
    assert embedded.history[0]["content"] == "My name is Bob." and len(embedded.history) == 4
    embedded.clear_history()
    assert embedded.history == []
    with pytest.raises(InvalidInputError):
        embedded.chat("")


def test_presets_instead_of_toggles(embedded: LlamaCppLLM) -> None:
    embedded.params.apply_preset("creative")
    assert embedded.params.temperature == nbllm.PRESETS["creative"]["temperature"]
    embedded.params.apply_preset("deterministic")
    assert embedded.params.temperature == 0.0


def test_generate_summary(embedded: LlamaCppLLM) -> None:
    text = "The Eiffel Tower is in Paris. It was finished in 1889. Millions visit it every year."
    summary = embedded.generate_summary(text, max_tokens=40)
    assert isinstance(summary, str) and summary.strip()


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    llm = LlamaCppLLM(system_prompt="Be brief.", params={"temperature": 0.3, "seed": 5}, cache=False)
    llm.history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    path = llm.save_checkpoint(tmp_path / "ckpt")
    restored = LlamaCppLLM.from_checkpoint(path)
    assert isinstance(restored, LlamaCppLLM)
    assert restored.params.temperature == 0.3 and restored.system_prompt == "Be brief."
    assert restored.history == llm.history
    fresh = LlamaCppLLM(cache=False).load_checkpoint(path)
    assert fresh.params.seed == 5
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UsageError, match="not an nbllm checkpoint"):
        LlamaCppLLM.from_checkpoint(tmp_path / "bad.json")


def test_logging_to_a_file(embedded: LlamaCppLLM, tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    embedded.enable_logging(log)
    embedded.run("Say hi.", max_tokens=5)
    embedded.log_event("custom", note="mine")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["model"] == "SmolLM2-135M-Instruct" and lines[0]["output_tokens"] > 0
    assert lines[-1]["event"] == "custom" and lines[-1]["note"] == "mine"


def test_baseline_constructor_style_sets_parameters() -> None:
    llm = nbllm.LlamaCppLLM(temperature=0.7, max_tokens=50, top_k=50, top_p=0.9, stop_token="###")
    assert llm.params.set_values() == {
        "temperature": 0.7,
        "max_tokens": 50,
        "top_k": 50,
        "top_p": 0.9,
        "stop": "###",
    }
    with pytest.raises(nbllm.InvalidParameterError, match="temperature"):
        nbllm.LlamaCppLLM(temperature=9.0)


@pytest.mark.parametrize("argument", ["num_beams", "device", "do_sample", "beam_width"])
def test_parameters_nbllm_cannot_honour_are_named(argument: str) -> None:
    with pytest.raises(nbllm.UnsupportedParameterError, match=argument) as info:
        nbllm.LlamaCppLLM(**{argument: 2})
    assert info.value.field == argument


def test_chat_takes_a_history(scripted: ScriptedLLM) -> None:
    earlier = [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hello Ada."}]
    scripted.chat("What is my name?", history=earlier)
    assert [m["content"] for m in scripted.requests[-1].messages] == [
        "My name is Ada.",
        "Hello Ada.",
        "What is my name?",
    ]
    scripted.chat("And now?", history="User: I like tea.")
    first = scripted.requests[-1].messages[0]
    assert first["role"] == "system" and "I like tea." in first["content"]
    assert scripted.history[-2]["content"] == "And now?"


def test_progress_callback_func_is_distilabels_name_for_progress(scripted: ScriptedLLM) -> None:
    seen = []
    scripted.generate(
        ["a", "b"], num_generations=2, progress_callback_func=lambda done, total: seen.append((done, total))
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]

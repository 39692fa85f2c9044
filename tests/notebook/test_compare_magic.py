from __future__ import annotations

import pytest
from traitlets.config import Config

import nbllm
from nbllm.generators import AsyncGenerator, Generator, Job
from tests.scripted import ScriptedLLM

pytestmark = pytest.mark.slow


def test_compare_parameter_sets_gives_a_wide_frame_and_a_plot(embedded) -> None:
    comparison = nbllm.compare(
        ["Name a fruit.", "Name a city."],
        params=[{"temperature": 0.0}, {"temperature": 1.2}],
        llm=embedded,
        num_generations=2,
    )
    wide, figure = comparison
    assert list(wide.columns[-2:]) == ["temperature=0.0", "temperature=1.2"]
    assert len(wide) == 4 and wide["temperature=0.0"].notna().all()
    assert figure.axes[0].get_title().startswith("Output tokens per second")
    assert "<img" in comparison._repr_html_()


def test_compare_llms_and_generators(tmp_path) -> None:
    a, b = ScriptedLLM(cache=False), ScriptedLLM(cache=False)
    wide, _ = nbllm.compare(["x"], llms=[a, b])
    assert list(wide.columns[-2:]) == ["scripted", "scripted #2"]
    job = Job(instruction="i", template="{q}")
    wide, _ = nbllm.compare(["x", "y"], generators=[Generator(job, a), AsyncGenerator(job, b)])
    assert {"Generator", "AsyncGenerator"} <= set(wide.columns)
    with pytest.raises(nbllm.UsageError, match="exactly one"):
        nbllm.compare(["x"], llms=[a], params=[{}])


def test_cell_magic_sends_the_cell_to_the_llm() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance(config=Config({"HistoryManager": {"enabled": False}}))
    ip.run_line_magic("load_ext", "nbllm")
    ip.user_ns["mine"] = nbllm.LlamaCppLLM(cache=False)
    ip.run_line_magic("nbllm_use", "mine")
    answer = ip.run_cell_magic("nbllm", "--max-tokens 8 --temperature 0", "Say hello.")
    assert isinstance(answer, str) and answer.strip()
    assert ip.user_ns["mine"].last_generation.stats.output_tokens <= 8

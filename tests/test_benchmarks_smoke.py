"""The benchmark runner works (no timing is asserted here: speed lives in benchmarks/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_runner_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--out", str(out), "import", "dataframe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| figure | nbllm | baseline | ratio | target | met |" in result.stdout
    data = json.loads(out.read_text())
    names = [f["name"] for f in data["figures"]]
    assert any(n.startswith("6 import") for n in names) and any(n.startswith("7 ") for n in names)
    assert all({"nbllm", "baseline", "ratio", "target", "met"} <= set(f) for f in data["figures"])


@pytest.mark.parametrize("server", ["aiohttp", "asgi"])
def test_latency_servers_answer_like_openai(server: str) -> None:
    """Both servers answer as a reasoning model's server does, plain and streaming."""
    sys.path.insert(0, str(ROOT))
    import nbllm
    from benchmarks.common import latency_server

    with latency_server(0.01, server) as url:
        llm = nbllm.OpenAILLM(model="bench", base_url=url, cache=False)
        (output,) = llm.generate("hi", num_generations=3)
        assert len(output.generations) == 3 and output.generations[0].stats.output_tokens > 0
        first = output.generations[0]
        assert first.reasoning and first.stats.reasoning_tokens and not first.stats.reasoning_estimated
        assert "".join(llm.stream("hi")).strip() == first.text
        assert llm.last_generation.reasoning == first.reasoning

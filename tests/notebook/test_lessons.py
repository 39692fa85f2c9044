"""Replay bundles in real kernels against a real OpenAI-compatible server (llama.cpp's own
llama-server, with an API key, on 127.0.0.1): record with %nbllm_record, check the live model
for drift, then replay in a kernel with no key and no server; and the lessons shipped in
notebooks/ (08, 10) replay in a kernel whose network is off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.servers.conftest import ALIAS, KEY, llama_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ["Name a fruit.", "Name a colour."]


def run(sources: list[str], cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """Each cell's printed text, from a fresh kernel (with `env` as its environment)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(**({"env": env} if env is not None else {}))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    return [
        "".join(o.get("text", "") for o in c.get("outputs", []) if o.output_type == "stream")
        for c in nb.cells
    ]


def generate_cell(url: str, key: str | None) -> str:
    return (
        "import json, nbllm\n"
        f"llm = nbllm.OpenAILLM(model={ALIAS!r}, base_url={url!r}, api_key={key!r}, cache=False, max_retries=8)\n"
        f"outputs = llm.generate({PROMPTS!r}, num_generations=2, temperature=0.8, max_tokens=12, seed=4)\n"
        "frame = nbllm.to_dataframe(outputs)\n"
        "print(json.dumps({'texts': [o.texts for o in outputs], 'recorded': frame['recorded'].tolist(),\n"
        "                  'errors': [str(g.error) for o in outputs for g in o.generations if g.error],\n"
        "                  'badge': 'nbllm-recorded' in nbllm.show(outputs).data}))"
    )


def test_record_check_and_replay_a_lesson_in_real_kernels(tmp_path: Path) -> None:
    bundle = tmp_path / "lesson.nbllm"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["NBLLM_CACHE_DIR"] = str(tmp_path / "cache")
    with ExitStack() as stack:
        url = llama_server(stack, tmp_path) + "/v1"
        recorded_cells = run(
            ["%load_ext nbllm\n%nbllm_record lesson.nbllm", generate_cell(url, KEY), "%nbllm_record stop"],
            tmp_path,
            env,
        )
        live = json.loads(recorded_cells[1])
        assert not live["errors"] and live["recorded"] == [False] * 4
        assert KEY not in bundle.read_text()
        entries = json.loads(bundle.read_text())["entries"]
        assert len(entries) == 4 and {e["identity"]["base_url"] for e in entries} == {url}
        # the model still reachable: run it live against the recording
        checked = run(
            [
                "%load_ext nbllm\n%nbllm_replay lesson.nbllm --compare",
                generate_cell(url, KEY),
                "drift = get_ipython().run_line_magic('nbllm_replay', '')\n"
                "print(json.dumps({'checked': len(drift.drift), 'summary': drift.summary()}))",
            ],
            tmp_path,
            env,
        )
        again = json.loads(checked[1])
        assert again["recorded"] == [False] * 4  # live answers, not the recording's
        report = json.loads(checked[2])
        assert report["checked"] == 4 and "answers run live" in report["summary"]
    # the server is gone and the kernel has no key: the bundle answers
    replayed = run(
        [
            "%load_ext nbllm\n%nbllm_replay lesson.nbllm",
            generate_cell(url, None),
            "(missing,) = llm.generate(['Never asked.'], max_tokens=12)\n"
            "print(type(missing.generations[0].error).__name__, missing.generations[0].error)",
            "%nbllm_replay stop\nsession = nbllm.replay('lesson.nbllm', fallback='embedded')\n"
            "(answered,) = llm.generate(['Never asked.'], max_tokens=12)\n"
            "g = answered.generations[0]\nprint(json.dumps({'ok': g.ok, 'text': g.text, 'notes': g.notes}))\nsession.stop()",
        ],
        tmp_path,
        env,
    )
    offline = json.loads(replayed[1])
    assert offline["texts"] == live["texts"]
    assert offline["recorded"] == [True] * 4 and offline["badge"] and not offline["errors"]
    assert replayed[2].startswith("NotRecordedError") and "'Never asked.'" in replayed[2]
    fallback = json.loads(replayed[3])
    assert fallback["ok"] and fallback["text"]
    assert any("answered by SmolLM2-135M-Instruct" in n for n in fallback["notes"])


def test_a_streamed_turn_the_bundle_lacks_is_answered_by_the_embedded_fallback(
    tmp_path: Path, embedded_session
) -> None:
    """A chat turn streams; under replay with a fallback the missing turn arrives in one piece."""
    import nbllm

    path = tmp_path / "lesson.nbllm"
    with nbllm.record(path):
        embedded_session.generate("Say yes.", max_tokens=4)
    with nbllm.replay(path, fallback="embedded"):
        held = "".join(embedded_session.stream("Say yes.", max_tokens=4))
        replayed = embedded_session.last_generation
        missing = "".join(embedded_session.stream("Name a fruit.", max_tokens=8))
        generation = embedded_session.last_generation
    assert held == replayed.text and replayed.stats.recorded
    assert missing and not generation.stats.recorded
    assert any("answered by SmolLM2-135M-Instruct" in n for n in generation.notes)


def check_sampling_lesson(nb: nbformat.NotebookNode, html: str) -> None:
    assert html.count("nbllm-recorded") >= 3, "the replayed grid is not marked as recorded"
    assert "0 requests to send" in html  # the estimate before the grid: the bundle holds it all
    frame = next(o for c in nb.cells if "grid.frame[" in c.source for o in c.outputs)
    assert "False" not in frame["data"]["text/plain"].split("recorded", 1)[1]


def check_reasoning_lesson(nb: nbformat.NotebookNode, html: str) -> None:
    """Lesson 10: the thinking apart from the answer in each view, and the cost of thinking."""
    printed = "".join(
        o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream"
    )
    assert "thinking: the capital of France is Paris." in printed
    assert "28 output tokens: 11 thinking (estimated: True), 17 answer" in printed
    assert "thinking: I'm a color." in printed  # the stream's ReasoningDelta pieces
    assert "nbllm-recorded" in html and "thinking" in html
    assert "<th>reasoning_tokens</th>" in html and "<th>thinking tokens</th>" in html
    assert "scores 0.167 lower than" in html  # thinking did not pay, as the lesson says
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "plot_cost did not render"
    assert "17 answers, 17 served, 0 not recorded" in html


SHIPPED = {
    "08_how_text_is_sampled": ("http://127.0.0.1:8080/v1", check_sampling_lesson),
    "10_reasoning_models": ("http://127.0.0.1:8124/v1", check_reasoning_lesson),
}


@pytest.mark.parametrize("lesson", sorted(SHIPPED))
def test_the_shipped_lesson_replays_with_the_network_off(tmp_path: Path, lesson: str) -> None:
    """A replayed lesson (notebooks/08, notebooks/10) in a kernel started in its own network
    namespace (only loopback, nothing listening on it): every answer of the lesson's server
    comes from the bundle."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.fail("this test runs as root with unshare (util-linux), as CI does")
    base_url, check = SHIPPED[lesson]
    shipped = ROOT / "notebooks" / f"{lesson}.nbllm"
    entries = json.loads(shipped.read_text())["entries"]
    assert entries and {e["identity"]["backend"] for e in entries} == {"openai"}
    assert {e["identity"]["base_url"] for e in entries} == {base_url}
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work)
    out = tmp_path / "executed.ipynb"
    script = (
        "import sys, nbformat\nfrom nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': sys.argv[3]}}).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["NBLLM_CACHE_DIR"] = str(tmp_path / "cache")
    command = f'ip link set lo up && exec {sys.executable} -c "$0" "$@"'
    done = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            command,
            script,
            str(work / f"{lesson}.ipynb"),
            str(out),
            str(work),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    check(nb, html)

"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel, offline."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"


def execute(path: Path, timeout: int = 240) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute()
    return nb


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path: Path) -> None:
    nb = execute(path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / path.name)  # the run as a teacher would read it
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert outputs
    # no red box: nothing written to stderr (warnings, library chatter)
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, stderr
    # results show as tables, not as a wall of reprs
    walls = [
        o["data"]["text/plain"][:80]
        for o in outputs
        if o.output_type == "execute_result"
        and str(o["data"].get("text/plain", "")).startswith(("[GenerateOutput(", "GenerateOutput("))
        and "text/html" not in o["data"]
    ]
    assert not walls, walls
    LESSON_CHECKS.get(path.name, lambda _: None)(outputs)


def _texts(outputs: list) -> str:
    return "\n".join(
        o.get("text", "")
        if o.output_type == "stream"
        else str(o.get("data", {}).get("text/html", o.get("data", {}).get("text/plain", "")))
        for o in outputs
    )


def check_exercises_lesson(outputs: list) -> None:
    """Lesson 09 reads files made by tools/lesson_09_data.py: its own exercises must agree with
    them (ada's passes reproduce, bob's claimed one does not), and its exercises must fail and
    pass as its text says."""
    import re

    text = _texts(outputs)
    assert "0 of 3 answers pass (2 needed)\nhint: Ask for what you want to see" in text
    assert "max_tokens=6: 0 of 3" in text and re.search(r"max_tokens=40: [23] of 3", text)
    assert "<td>ada</td><td>capital</td><td>True</td><td>True</td>" in text
    assert "<td>bob</td><td>capital</td><td>True</td><td>False</td>" in text
    assert "One ranking from 4 voters, 16 votes in 5 files." in text
    assert "1 vote in zed.sqlite3 (voter 'zed') is about other contenders" in text
    assert "This run against the one saved on" in text and "<th>verdict</th>" in text
    shipped = ROOT / "notebooks" / "09_class"
    assert not [p.name for p in shipped.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]


def check_reasoning_lesson(outputs: list) -> None:
    """Lesson 10 replays its bundle: its text describes those answers (thinking that does not
    pay), so they must still be what it shows."""
    text = _texts(outputs)
    assert "thinking: the capital of France is Paris." in text
    assert "<th>thinking tokens</th>" in text and "scores 0.167 lower than" in text
    assert "17 answers, 17 served, 0 not recorded" in text


LESSON_CHECKS = {
    "09_prompting_exercises.ipynb": check_exercises_lesson,
    "10_reasoning_models.ipynb": check_reasoning_lesson,
}


def test_figures_and_widgets_render_in_the_kernel() -> None:
    nb = execute(NOTEBOOKS[0])
    kinds = [set(o.get("data", {})) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert sum("image/png" in k for k in kinds) >= 2, "the plots did not render as images"
    assert any("text/html" in k for k in kinds), "the results table did not render as HTML"
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "every answer came from the cache: True" in printed
    assert "np.True_" not in printed and "np.False_" not in printed
    chat = execute(NOTEBOOKS[2])
    views = [
        o
        for c in chat.cells
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views, "the chat widget did not render"
    state = chat.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["model_name"] == "AnyModel" for m in state.values()), "the chat's text boxes are missing"


def test_notebooks_are_saved_without_outputs() -> None:
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
        assert "widgets" not in nb.metadata, path.name

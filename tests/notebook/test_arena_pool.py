"""A class's votes in one ranking: three kernels (processes) each run the arena on the embedded
model, vote and export their votes; the teacher pools the folder. A vote in two files counts
once, votes about other contenders or prompts are left out with a note that says whose they
are, and the plot says how many voters and votes the ranking rests on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbllm
from nbllm.errors import InvalidParameterError

pytestmark = pytest.mark.slow

CONTENDERS = {"careful": {"temperature": 0.3}, "wild": {"temperature": 1.2}}
PROMPTS = ["Name a colour.", "Name a fruit."]
KERNEL = """
import sys
import nbllm
contenders = {"careful": {"temperature": 0.3}, "wild": {"temperature": 1.2}}
arena = nbllm.Arena(contenders, ["Name a colour.", "Name a fruit."], path=sys.argv[1],
                    voter=sys.argv[2], seed=int(sys.argv[3]), max_tokens=8)
for _ in range(4):
    arena.vote("A" if arena.current.a == "careful" else "B")  # this class prefers careful
    arena.next()
print(arena.export_votes(sys.argv[4]), flush=True)
"""


def test_three_kernels_votes_pool_into_one_ranking(tmp_path: Path) -> None:
    kernels, folder = tmp_path / "kernels", tmp_path / "class"
    for seed, name in enumerate(("ada", "bob", "cy")):
        done = subprocess.run(
            [sys.executable, "-c", KERNEL, str(kernels / f"{name}.sqlite3"), name, str(seed),
             str(folder / f"{name}.sqlite3")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().endswith(f"{name}.sqlite3")
    shutil.copy(folder / "ada.sqlite3", folder / "ada-again.sqlite3")  # handed in twice
    other = nbllm.Arena({"x": {"temperature": 0.1}, "y": {"temperature": 0.9}}, PROMPTS,
                        path=folder / "zed.sqlite3", voter="zed", seed=0, max_tokens=8)  # fmt: skip
    other.vote("A")
    other.vote("B")

    pooled = nbllm.Arena.pooled(folder)
    assert (pooled.files, pooled.votes, pooled.voters) == (5, 12, 3)
    table = pooled.ranking.set_index("contender")
    assert table.loc["careful", "wins"] == 12 and table.loc["wild", "wins"] == 0
    assert table.loc["careful", "score"] > table.loc["wild", "score"]
    assert table.loc["careful", "low"] > table.loc["wild", "high"]  # 12 votes agree: clear
    assert pooled.left_out == ["2 votes in zed.sqlite3 (voter 'zed') are about other contenders"]
    title = pooled.plot().axes[0].get_title()
    assert "3 voters, 12 votes" in title
    assert "12 votes" in pooled._repr_html_() or "3 voters, 12 votes" in pooled._repr_html_()

    # against an arena of the same contenders on other prompts: every vote is about other prompts
    city = nbllm.Arena(CONTENDERS, ["Name a city."], path=tmp_path / "teacher.sqlite3", seed=0, max_tokens=8)
    strict = nbllm.Arena.pooled([folder / "ada.sqlite3", folder / "bob.sqlite3"], arena=city)
    assert strict.votes == 0
    assert sorted(strict.left_out) == [
        "4 votes in ada.sqlite3 (voter 'ada') are about other prompts",
        "4 votes in bob.sqlite3 (voter 'bob') are about other prompts",
    ]


def test_pooling_nothing_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="No vote file or folder"):
        nbllm.Arena.pooled(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidParameterError, match="holds no vote files"):
        nbllm.Arena.pooled(tmp_path / "empty")
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database")
    with pytest.raises(InvalidParameterError, match="not an arena's vote file"):
        nbllm.Arena.pooled(junk)

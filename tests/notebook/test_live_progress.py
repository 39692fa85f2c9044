"""Progress bars and the live table on the embedded model."""

from __future__ import annotations

import warnings

import pytest

import nbllm

pytestmark = pytest.mark.slow


def test_progress_callback_counts_every_generation(embedded) -> None:
    seen: list[tuple[int, int]] = []
    embedded.generate(
        ["Say a.", "Say b."], num_generations=2, max_tokens=5, progress=lambda d, t: seen.append((d, t))
    )
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_progress_true_draws_a_tqdm_bar(embedded, capsys) -> None:
    embedded.generate(["Say c.", "Say d."], max_tokens=5, progress=True)
    assert "2/2" in capsys.readouterr().err


def test_live_table_fills_in_and_returns_the_outputs(embedded) -> None:
    with warnings.catch_warnings(record=True) as caught:  # a failing live update only warns
        warnings.simplefilter("always")
        outputs = nbllm.live_generate(
            embedded, ["Name a fruit.", "Name a tree.", "Name a bird."], max_tokens=8
        )
    assert not [str(w.message) for w in caught if issubclass(w.category, nbllm.NBLLMWarning)]
    assert [len(o.generations) for o in outputs] == [1, 1, 1]
    assert [o.input[-1]["content"] for o in outputs] == ["Name a fruit.", "Name a tree.", "Name a bird."]
    table = nbllm.LiveTable(3)
    table.update(2, list(outputs)[:2], force=True)
    assert table.bar.value == 2 and "2</b> generations" in table.table.value

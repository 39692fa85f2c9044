from __future__ import annotations

from nbllm import GenerateOutput, Generation, GenerationStats, merge_responses


def _single(text: str, tokens: int) -> GenerateOutput:
    return GenerateOutput("m", [Generation(text, GenerationStats(input_tokens=1, output_tokens=tokens))])


def test_merge_responses_groups_in_order_with_their_statistics() -> None:
    merged = merge_responses([_single("a", 1), _single("b", 2), _single("c", 3), _single("d", 4)], n=2)
    assert [m.texts for m in merged] == [["a", "b"], ["c", "d"]]
    assert merged[1].statistics["output_tokens"] == [3, 4]
    assert [g.sample_index for g in merged[1].generations] == [0, 1]


def test_merge_responses_keeps_a_short_last_group() -> None:
    merged = merge_responses([_single(x, 1) for x in "abc"], n=2)
    assert [m.texts for m in merged] == [["a", "b"], ["c"]]
    assert merge_responses([], n=3) == []


def test_tokens_per_second() -> None:
    assert GenerationStats(output_tokens=10, latency=2.0).tokens_per_second == 5.0
    assert GenerationStats(output_tokens=10, latency=0.0).tokens_per_second == 0.0

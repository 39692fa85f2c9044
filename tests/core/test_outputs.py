from __future__ import annotations

import copy

from nbllm import GenerateOutput, Generation, GenerationStats, merge_responses


def _single(text: str, tokens: int) -> GenerateOutput:
    return GenerateOutput("m", [Generation(text, GenerationStats(input_tokens=1, output_tokens=tokens))])


def test_merge_responses_has_distilabel_semantics() -> None:
    responses = [
        {
            "generations": [t, "ignored"],
            "statistics": {"input_tokens": [1, 9], "output_tokens": [n, 9]},
            "logprobs": [[n]],
        }
        for t, n in (("a", 1), ("b", 2), ("c", 3))
    ]
    before = copy.deepcopy(responses)
    merged = merge_responses(responses, n=2)
    assert merged == [
        {
            "generations": ["a", "b"],
            "statistics": {"input_tokens": [1, 1], "output_tokens": [1, 2]},
            "logprobs": [[1], [2]],
        },
        {"generations": ["c"], "statistics": {"input_tokens": [1], "output_tokens": [3]}, "logprobs": [[3]]},
    ]
    assert responses == before  # the inputs are not changed
    assert merge_responses([], n=3) == []


def test_merge_responses_takes_generate_outputs_through_to_dict() -> None:
    merged = merge_responses([_single("a", 1), _single("b", 2)], n=2)
    assert merged == [
        {
            "generations": ["a", "b"],
            "statistics": _single("x", 1).statistics
            | {
                "input_tokens": [1, 1],
                "output_tokens": [1, 2],
                "latency": [0.0, 0.0],
                "finish_reason": [None, None],
                "cache_hit": [False, False],
            },
        }
    ]
    back = GenerateOutput.from_dict(merged[0], "m")
    assert back.texts == ["a", "b"] and back.statistics["output_tokens"] == [1, 2]
    assert back.to_dict() == merged[0]


def test_tokens_per_second() -> None:
    assert GenerationStats(output_tokens=10, latency=2.0).tokens_per_second == 5.0
    assert GenerationStats(output_tokens=10, latency=0.0).tokens_per_second == 0.0

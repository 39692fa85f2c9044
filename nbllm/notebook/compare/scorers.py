"""Scorers for compare(): checks a user expects of an answer, each a named column of the long
table, summarised per cell as a pass rate or a mean.

Pure checks of the text (and its input row), a Python callable, a reference answer from the
input table, or an LLM judge (its prompts and verdicts go through that LLM's engine, logged like
every call). A scorer that raises on one answer marks that answer's cell, never the table.
Runs on the caller's thread (the judge waits there for its LLM).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nbllm.errors import InvalidParameterError

Row = Mapping[str, Any]
JUDGE_PROMPT = (
    "You grade answers. Rubric: {rubric}\n\nQuestion: {input}\n\nAnswer: {answer}\n\n"
    "Does the answer meet the rubric? Reply with one word: YES or NO."
)


@dataclass
class Scorer:
    """One check. `score_all` gets every answer at once (a judge batches its calls); each
    result is a number (True/False count as 1/0) or the exception that scoring it raised."""

    describe: str
    check: Callable[[str, Row], Any] | None = None
    many: Callable[[list[str], list[Row]], list[Any]] | None = field(default=None, repr=False)

    def score_all(self, texts: list[str], rows: list[Row]) -> list[float | Exception]:
        if self.many is not None:
            try:
                results = list(self.many(texts, rows))
            except Exception as exc:  # the whole batch failed: every answer carries it
                return [exc] * len(texts)
        else:
            results = []
            for text, row in zip(texts, rows):
                try:
                    results.append(self.check(text, row))  # type: ignore[misc]
                except Exception as exc:
                    results.append(exc)
        return [_scored(r) for r in results]


def contains(text: str, case: bool = False) -> Scorer:
    """Passes when the answer contains `text` (case-insensitive unless ``case=True``)."""
    needle = text if case else text.lower()
    return Scorer(f"contains {text!r}", lambda t, _: needle in (t if case else t.lower()))


def equals(text: str, case: bool = False) -> Scorer:
    """Passes when the answer, stripped, is `text` (case-insensitive unless ``case=True``)."""
    return Scorer(f"equals {text!r}", lambda t, _: _same(t, text, case))


def regex(pattern: str) -> Scorer:
    """Passes when `pattern` matches somewhere in the answer."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidParameterError(f"regex({pattern!r}) is not a valid pattern: {exc}", "pattern") from None
    return Scorer(f"matches /{pattern}/", lambda t, _: compiled.search(t) is not None)


def valid_json() -> Scorer:
    """Passes when the answer is JSON (a fenced ```json block counts)."""
    return Scorer("valid JSON", lambda t, _: _parses(t))


def json_schema(schema: Any) -> Scorer:
    """Passes when the answer is JSON valid against `schema`: a pydantic model or a JSON schema."""
    from nbllm.core.schema import parse_json_answer, schema_dict

    described = schema_dict(schema)

    def check(text: str, _: Row) -> bool:
        try:
            parse_json_answer(text, schema)
        except Exception:
            return False
        return True

    return Scorer(f"valid against {described.get('title', 'the schema')}", check)


def reference(column: str, how: str = "contains", case: bool = False) -> Scorer:
    """Compares the answer with the reference in the input table's `column`: it ``contains``
    the reference, or ``equals`` it."""
    if how not in ("contains", "equals"):
        raise InvalidParameterError(f"reference(how={how!r}): use 'contains' or 'equals'.", "how")

    def check(text: str, row: Row) -> bool:
        if column not in row:
            raise KeyError(f"the input table has no column {column!r}")
        expected = str(row[column])
        if how == "equals":
            return _same(text, expected, case)
        return (expected if case else expected.lower()) in (text if case else text.lower())

    return Scorer(f"{how} the reference in {column!r}", check)


def judge(llm: Any, rubric: str, prompt: str = JUDGE_PROMPT) -> Scorer:
    """An LLM grades each answer against `rubric` (YES = 1, NO = 0; anything else marks the cell).
    It runs greedy, so a rerun gives the same verdicts from the cache."""

    def many(texts: list[str], rows: list[Row]) -> list[Any]:
        prompts = [
            prompt.format(rubric=rubric, input=row.get("input", ""), answer=t) for t, row in zip(texts, rows)
        ]
        outputs = llm.generate(prompts, temperature=0, max_tokens=4)
        return [_verdict(o) for o in outputs]

    return Scorer(f"judged by {llm.model_name}: {rubric}", many=many)


BUILT_IN: dict[str, Callable[[], Scorer]] = {"valid_json": valid_json, "json": valid_json}


def resolve(scorers: Mapping[str, Any] | None) -> dict[str, Scorer]:
    """`scorers` as Scorer objects by name, or an error naming the one that is not a scorer."""
    if scorers is None:
        return {}
    if not isinstance(scorers, Mapping):
        raise InvalidParameterError("scorers must be a dict of name -> scorer.", "scorers")
    return {str(name): as_scorer(given, f"scorers[{name!r}]", str(name)) for name, given in scorers.items()}


def as_scorer(given: Any, where: str, name: str = "check") -> Scorer:
    """`given` (a Scorer, a built-in's name, or a function of the answer, or of the answer and
    its input row) as a Scorer; an error naming `where` when it is none of these."""
    if isinstance(given, Scorer):
        return given
    if isinstance(given, str):
        if given not in BUILT_IN:
            raise InvalidParameterError(
                f"{where}={given!r} is not a scorer nbllm knows; built in: {', '.join(BUILT_IN)}, "
                "or use nbllm.scorers.contains(...), equals, regex, json_schema, reference, judge, "
                "or a function of the answer.",
                where,
            )
        return BUILT_IN[given]()
    if callable(given):
        return Scorer(getattr(given, "__name__", name), _adapt(given, where))
    raise InvalidParameterError(f"{where} is a {type(given).__name__}, not a scorer.", where)


def score_rows(
    scorers: dict[str, Scorer], texts: Sequence[str | None], rows: list[Row]
) -> dict[str, list[Any]]:
    """Per scorer, one result per answer: a number, None for a failed generation, or the
    exception the scorer raised."""
    answered = [i for i, t in enumerate(texts) if isinstance(t, str)]
    out: dict[str, list[Any]] = {}
    for name, scorer in scorers.items():
        results: list[Any] = [None] * len(texts)
        scored = scorer.score_all([texts[i] for i in answered], [rows[i] for i in answered])  # type: ignore[misc]
        for i, value in zip(answered, scored):
            results[i] = value
        out[name] = results
    return out


def _adapt(fn: Callable[..., Any], where: str) -> Callable[[str, Row], Any]:
    """A callable judges the answer (and its input row); one with a parameter named
    ``reasoning`` is also given the model's thinking (None where there was none)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    thinking = any(p.name == "reasoning" for p in parameters)
    arity = (
        len(
            [
                p
                for p in parameters
                if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.name != "reasoning"
            ]
        )
        if parameters
        else 1
    )
    if arity not in (1, 2):
        raise InvalidParameterError(
            f"{where} takes {arity} arguments; a scorer takes the answer, or the answer and its input row "
            "(and the thinking as reasoning=).",
            where,
        )
    if thinking:
        if arity == 2:
            return lambda t, row: fn(t, row, reasoning=row.get("reasoning"))
        return lambda t, row: fn(t, reasoning=row.get("reasoning"))
    return (lambda t, row: fn(t, row)) if arity == 2 else (lambda t, _: fn(t))


def _scored(value: Any) -> float | Exception:
    """A scorer's result as a number, or the error that marks its answer (never raised)."""
    import numbers

    if isinstance(value, Exception):
        return value
    try:
        import numpy as np

        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.shape == ()):
            value = value.item()
    except ImportError:
        pass
    if isinstance(value, (bool, numbers.Real)):
        return float(value)
    return TypeError(f"a scorer returned {value!r:.60}; it must return a bool or a number")


def _same(text: str, expected: str, case: bool) -> bool:
    a, b = text.strip(), expected.strip()
    return a == b if case else a.lower() == b.lower()


def _parses(text: str) -> bool:
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
    try:
        json.loads(fenced.group(1) if fenced else body)
    except ValueError:
        return False
    return True


def _verdict(output: Any) -> Any:
    generation = output.generations[0]
    if not generation.ok:
        return generation.error
    word = (generation.text or "").strip().split()
    first = word[0].strip(".,!:").upper() if word else ""
    if first in ("YES", "NO"):
        return first == "YES"
    return ValueError(f"the judge answered {generation.text!r}, not YES or NO")

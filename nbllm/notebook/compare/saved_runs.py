"""A comparison kept in one file and loaded back, and this run against a saved one: per score
the difference with its interval and a paired test (the statistics of ``significance``), and
the answers that changed. "Did my change help, or is it noise?"

Runs on the caller's thread (a file read or written; a few thousand resamples per score).
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbllm.core.files import write_atomically
from nbllm.errors import InvalidParameterError, NBLLMError, public_url

FORMAT = "nbllm-comparison"
VERSION = 1
SAVED = " (saved)"
# Options whose values may be credentials: saved as "***" (a key never reaches a file).
SECRET = re.compile(
    r"api_?key|secret|password|authori[sz]ation|headers?$|credential", re.IGNORECASE
)  # what marks the saved run's variants in the table both runs are tested in


def save(comparison: Any, path: Path) -> Path:
    """Write `comparison` to `path` as one JSON file (written whole or not at all)."""
    from nbllm.llms.backend import model_identity
    from nbllm.notebook.compare.report import installed_version

    path = (path if path.suffix else path.with_suffix(".json")).resolve()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "nbllm": installed_version(),
        "created": comparison.created,
        "models": list(comparison.models),
        "identities": [public_identity(model_identity(m)) for m in comparison.llms] or comparison.identities,
        "options": without_secrets(comparison.options),
        "scores": list(comparison.scores),
        "labels": list(comparison.labels),
        "frame": json.loads(comparison.frame.to_json(orient="table", index=False, default_handler=str)),
    }
    return write_atomically(path, json.dumps(document, default=str, ensure_ascii=False))


def read(path: Path) -> dict[str, Any]:
    """What the file at `path` saved: the arguments ``compare.assemble`` makes a Comparison of."""
    import pandas as pd

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameterError(
            f"No saved comparison at {path}: save one with result.save(path).", "path"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"{path} is not a saved comparison (not JSON: {exc}).", "path") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidParameterError(f"{path} is not a saved comparison (made by result.save).", "path")
    if document.get("version", 0) > VERSION:
        raise InvalidParameterError(
            f"{path} was saved by a newer nbllm ({document.get('nbllm')}): upgrade nbllm to load it.", "path"
        )
    return {
        "frame": pd.read_json(io.StringIO(json.dumps(document["frame"])), orient="table"),
        "names": document["scores"],
        "labels": document["labels"],
        "models": document["models"],
        "options": document["options"],
        "used": [],
        "created": document["created"],
        "estimates": [],
        "identities": document.get("identities", []),
        "nbllm_version": document.get("nbllm", ""),
    }


@dataclass
class Versus:
    """This run against a saved one: a row per (variant, score) with both means, the
    difference (now - saved), its interval, the paired test's p-value and a verdict in words;
    and the answers that changed, a row per (input, variant)."""

    scores: Any
    changed: Any
    saved_on: str
    saved_by: str
    unpaired: list[str]

    def _repr_html_(self) -> str:
        head = f"<p>This run against the one saved on {html.escape(self.saved_on)}"
        head += f" (nbllm {html.escape(self.saved_by)})</p>" if self.saved_by else "</p>"
        if self.unpaired:
            head += f"<p><i>Only in one run, not compared: {html.escape(', '.join(self.unpaired))}</i></p>"
        scores = (
            self.scores.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3g}")
            if len(self.scores)
            else "<p>No scores to compare: the runs were made without scorers.</p>"
        )
        changed = (
            f"<details><summary>{len(self.changed)} answer{'s' * (len(self.changed) != 1)} changed</summary>"
            + self.changed.to_html(index=False)
            + "</details>"
            if len(self.changed)
            else "<p>No answer changed.</p>"
        )
        return head + scores + changed


def versus(current: Any, saved: Any) -> Versus:
    """Pair `current` and `saved` by input and variant (see ``Comparison.versus``)."""
    import pandas as pd

    from nbllm.notebook.compare.significance import significance

    _same_inputs(current, saved)
    if set(current.scores) != set(saved.scores):
        raise InvalidParameterError(
            f"The saved run was scored by {sorted(saved.scores)}, this one by {sorted(current.scores)}: "
            "compare runs scored alike (the same scorers=).",
            "saved",
        )
    shared = [v for v in current.labels if v in saved.labels]
    if not shared:
        raise InvalidParameterError(
            f"The saved run's variants {saved.labels} share none with this run's {current.labels}.", "saved"
        )
    unpaired = [v for v in current.labels + saved.labels if v not in shared]
    rows = []
    for variant in shared:
        both = pd.concat(
            [
                saved.frame[saved.frame["variant"] == variant].assign(variant=variant + SAVED),
                current.frame[current.frame["variant"] == variant],
            ],
            ignore_index=True,
        )
        for score in current.scores:
            row: dict[str, Any] = {"variant": variant, "score": score}
            try:
                test = significance(both, variant + SAVED, variant, score)
            except NBLLMError as exc:
                rows.append({**row, "verdict": str(exc)})
                continue
            rows.append(
                {
                    **row,
                    "saved": test.mean_a,
                    "now": test.mean_b,
                    "difference": test.difference,
                    "low": test.low,
                    "high": test.high,
                    "p": test.p_value,
                    "verdict": "a real difference" if test.significant else "could be noise",
                }
            )
    return Versus(
        pd.DataFrame(rows), _changed(current, saved, shared), saved.created, saved.nbllm_version, unpaired
    )


def _same_inputs(current: Any, saved: Any) -> None:
    def asked(run: Any) -> list[str]:
        return [str(v) for v in run.frame.groupby("input_index", sort=True)["input"].first()]

    now, before = asked(current), asked(saved)
    if now != before:
        differ = next((i for i, (a, b) in enumerate(zip(now, before)) if a != b), min(len(now), len(before)))
        raise InvalidParameterError(
            f"The saved run asked other inputs ({len(before)} against {len(now)}; the first difference at "
            f"input {differ}): versus pairs the same inputs, so run this comparison on the saved run's inputs.",
            "saved",
        )


def _changed(current: Any, saved: Any, variants: list[str]) -> Any:
    """The answers (a cell's majority answer, with several samples) that differ between runs."""
    import pandas as pd

    def answers(run: Any) -> dict[tuple[int, str], str]:
        cells = run.cells
        return {
            (int(c["input_index"]), c["variant"]): str(c["majority"]).strip()
            for _, c in cells.iterrows()
            if c["variant"] in variants
        }

    now, before = answers(current), answers(saved)
    inputs = current.frame.groupby("input_index")["input"].first()
    rows = [
        {"input": str(inputs[key[0]]), "variant": key[1], "saved": before[key], "now": now[key]}
        for key in now
        if key in before and now[key] != before[key]
    ]
    return pd.DataFrame(rows, columns=["input", "variant", "saved", "now"])


def without_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """`options` with the value of every option that may be a credential as "***"."""
    return {k: "***" if SECRET.search(k) else v for k, v in options.items()}


def public_identity(identity: Any) -> Any:
    """A model identity with no credentials in it (a base URL's user, password and query dropped)."""
    if not isinstance(identity, dict) or not isinstance(identity.get("base_url"), str):
        return identity
    return {**identity, "base_url": public_url(identity["base_url"], marked=False)}

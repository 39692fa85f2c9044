"""Choosing a backend from a model name and an optional endpoint.

Runs on the caller's thread.
"""

from __future__ import annotations

from typing import Any

from nbllm.errors import UsageError
from nbllm.llms.base import LLM


def default_llm(model: str | None = None, base_url: str | None = None, **config: Any) -> LLM:
    """The LLM a user means: an endpoint's model, a GGUF file, or the embedded model.

    - ``base_url`` given: OpenAILLM(model, base_url) (model is required).
    - ``model`` ends in ``.gguf``: LlamaCppLLM on that file.
    - nothing given: the embedded SmolLM2-135M-Instruct, offline.
    - a bare model name: OpenAILLM against the OpenAI API (needs OPENAI_API_KEY).
    """
    from nbllm.llms.llamacpp.llm import LlamaCppLLM
    from nbllm.llms.openai.llm import OpenAILLM

    if base_url is not None:
        if not model:
            raise UsageError("an endpoint needs a model name too: pass model='...' with base_url.")
        return OpenAILLM(model=model, base_url=base_url, **config)
    if model is None:
        return LlamaCppLLM(**config)
    if model.lower().endswith(".gguf"):  # Windows and macOS file names ignore case
        return LlamaCppLLM(model_path=model, **config)
    return OpenAILLM(model=model, **config)

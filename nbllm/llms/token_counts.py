"""Counting a prompt's tokens before it is sent, and saying how: a backend's `_count_prompt`
gives its own tokenizer's count (the embedded model's, asked of its server; tiktoken's for
OpenAI models when its encoding is on this machine) or an estimate marked as such.

Runs on the caller's thread (never the I/O loop).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text
PER_MESSAGE = 4  # tokens a chat format adds around each message (OpenAI's rule of thumb)
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@dataclass(frozen=True)
class TokenCount:
    """A number of tokens and how it was counted (`exact` False: an estimate)."""

    tokens: int
    method: str
    exact: bool


def estimate(text: str) -> TokenCount:
    return TokenCount(max(1, len(text) // CHARS_PER_TOKEN), "estimated at 4 characters a token", False)


def tiktoken_offline(model: str) -> Any:
    """tiktoken's encoding for `model` if tiktoken is installed and the encoding's file is in
    its cache (tiktoken would otherwise download it, and nbllm never downloads at run time)."""
    try:
        import tiktoken
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        name = encoding_name_for_model(model)
    except KeyError:
        return None
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    folder = Path(cache) if cache else Path(tempfile.gettempdir()) / "data-gym-cache"
    if not (folder / hashlib.sha1(_BLOB.format(name).encode()).hexdigest()).is_file():
        return None
    return tiktoken.get_encoding(name)

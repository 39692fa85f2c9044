"""Resource use of this process, on every platform nbllm runs on.

Pure: runs on whatever thread calls it (the I/O loop, after each call).
"""

from __future__ import annotations

import sys

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


def peak_memory_mb() -> float:
    """The process's peak resident memory in MiB (0 where the platform does not say)."""
    if resource is not None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max_rss_to_mb(peak, sys.platform)
    try:
        import psutil
    except ImportError:
        return 0.0
    info = psutil.Process().memory_info()
    return getattr(info, "peak_wset", info.rss) / 2**20


def max_rss_to_mb(value: int, platform: str) -> float:
    """ru_maxrss is bytes on macOS and KiB on Linux and the BSDs."""
    return value / 2**20 if platform == "darwin" else value / 1024

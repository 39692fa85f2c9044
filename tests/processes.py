"""Whether a process (not necessarily the test's child) has ended, and waiting until it has."""

from __future__ import annotations

import os
import time
from pathlib import Path


def gone(pid: int) -> bool:
    """True once `pid` has exited: reaped, or a zombie nobody has reaped yet (POSIX)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0): it is gone once its state is Z
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    """Waits until `pid` has ended (the process's own state, read every 50 ms), for at most
    `timeout` seconds; whether it has."""
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

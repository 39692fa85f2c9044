"""nest-asyncio2 is opt-in, for code that drives coroutines with run_until_complete itself."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import asyncio, nbllm
from tests.scripted import ScriptedLLM
llm = ScriptedLLM(cache=False)
async def cell():
    loop = asyncio.get_running_loop()
    try:
        loop.run_until_complete(llm.arun("x"))
    except RuntimeError as exc:
        print("WITHOUT", "already running" in str(exc))
    nbllm.enable_nested_asyncio()
    print("WITH", loop.run_until_complete(llm.arun("y")).startswith("reply-"))
asyncio.run(cell())
"""


def test_nested_asyncio_is_opt_in() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert "WITHOUT True" in out.stdout and "WITH True" in out.stdout, out.stderr

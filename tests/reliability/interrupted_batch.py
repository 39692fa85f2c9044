"""Run by test_interrupts.py in a subprocess: a batch that is interrupted, then rerun."""

import asyncio
import json
import sys
import threading
import time

import nbllm
from nbllm.engine import loop

base_url, prompts = sys.argv[1], [f"question {i}" for i in range(int(sys.argv[2]))]
llm = nbllm.OpenAILLM(model="fault", base_url=base_url, concurrency=4)
report = {}
print("READY", flush=True)
t0 = time.monotonic()
try:
    # each finished generation prints a line: the test interrupts once a few have finished
    llm.generate(prompts, progress=lambda done, total: print(f"DONE {done}", flush=True))
    report["finished_without_interrupt"] = True
except KeyboardInterrupt:
    report["interrupt_seconds"] = time.monotonic() - t0
time.sleep(0.5)


async def pending() -> int:
    return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])


report["stray_tasks"] = loop.run_sync(pending())
report["threads"] = sorted(t.name for t in threading.enumerate())
report["cached"] = len(llm.engine.cache)
again = llm.generate(prompts)
report["rerun_hits"] = sum(g.stats.cache_hit for o in again for g in o.generations)
report["rerun_ok"] = all(g.ok for o in again for g in o.generations)
report["texts_aligned"] = all(o.texts == [f"ok:{p}"] for p, o in zip(prompts, again))
print("REPORT " + json.dumps(report), flush=True)

"""nbllm inside a real ipykernel: sync calls in the kernel's running loop, top-level await,
a generator, an interrupted call, and a ProcessLLM whose load function is a notebook cell."""

from __future__ import annotations

import os
import signal
import threading
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.slow


def cells(base_url: str) -> list[str]:
    return [
        # 0: the kernel runs an event loop; nbllm must not need nest-asyncio for sync calls
        "import asyncio, threading, time, nbllm\n"
        "from nbllm.generators import AsyncGenerator, Job, ProcessLLM\n"
        f"llm = nbllm.OpenAILLM(model='smollm2', base_url={base_url!r}, cache=False)\n"
        "assert asyncio.get_event_loop().is_running()",
        # 1, 2: the sync API twice
        "first = llm.run('Say hello.', max_tokens=8)\nprint('FIRST', bool(first))",
        "second = llm.generate(['Name a fruit.', 'Name a tree.'], max_tokens=8)\n"
        "print('SECOND', [len(o.generations) for o in second])",
        # 3: the async API with top-level await
        "third = await llm.agenerate('Name a colour.', num_generations=2, max_tokens=8)\n"
        "print('THIRD', len(third.generations), all(g.ok for g in third.generations))",
        # 4: a generator
        "job = Job(instruction='Answer briefly.', template='{q}', params={'max_tokens': 8})\n"
        "runs = AsyncGenerator(job, llm, num_runs=2).generate(['Name a city.', 'Name a sea.'])\n"
        "print('GENERATOR', [[r.ok for r in rs] for rs in runs])",
        # 5: interrupted
        "t0 = time.monotonic()\nllm.run('Write a very long story about a lighthouse.', max_tokens=1500)",
        # 6: after the interrupt: prompt, no stray work, and the LLM still works
        "from nbllm.engine import loop\n"
        "async def pending():\n    return len(asyncio.all_tasks()) - 1\n"
        "print('STRAY', loop.run_sync(pending()))\n"
        "print('AFTER', bool(llm.run('Say ok.', max_tokens=4)))",
        # 7: a ProcessLLM whose load function is defined right here, in the notebook
        "def load_in_child():\n    import nbllm\n    return nbllm.LlamaCppLLM(n_threads=1, cache=False)\n"
        "member = ProcessLLM(load_in_child)\n"
        "(out,) = member.generate('Say hi.', max_tokens=6).result(timeout=120)\n"
        "print('CHILD', member.model_name, out.generations[0].ok)\n"
        "member.teardown()",
    ]


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_sync_async_generator_and_interrupt_in_a_real_kernel(llama_server: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells(llama_server)]
    client = NotebookClient(nb, timeout=180, kernel_name="python3")
    with client.setup_kernel():
        for index in range(5):
            client.execute_cell(nb.cells[index], index)
        assert "FIRST True" in text_of(nb.cells[1])
        assert "SECOND [1, 1]" in text_of(nb.cells[2])
        assert "THIRD 2 True" in text_of(nb.cells[3])
        assert "GENERATOR [[True, True], [True, True]]" in text_of(nb.cells[4])

        # what "Interrupt kernel" does for a local kernel: SIGINT to the kernel process
        kernel_pid = client.km.provisioner.process.pid
        timer = threading.Timer(1.5, os.kill, (kernel_pid, signal.SIGINT))
        timer.start()
        started = time.monotonic()
        with pytest.raises(CellExecutionError, match="KeyboardInterrupt"):
            client.execute_cell(nb.cells[5], 5)
        assert time.monotonic() - started < 10, "the interrupt was not prompt"
        timer.cancel()

        client.execute_cell(nb.cells[6], 6)
        assert "STRAY 0" in text_of(nb.cells[6])
        assert "AFTER True" in text_of(nb.cells[6])

        client.execute_cell(nb.cells[7], 7)
        assert "CHILD SmolLM2-135M-Instruct True" in text_of(nb.cells[7])


CRASH_CELLS = [
    "import os, signal, nbllm\n"
    "keep = {'answer': 42}\n"
    "llm = nbllm.LlamaCppLLM(cache=False, concurrency=2)\n"
    "prompts = [f'Write two sentences about the number {i}.' for i in range(6)]\n"
    "def killer(sig):\n"
    "    killed = []\n"
    "    def progress(done, total):\n"
    "        if done >= 2 and not killed:\n"
    "            killed.append(llm.server_process.pid)\n"
    "            os.kill(killed[0], sig)\n"
    "    return killed, progress",
    "killed, progress = killer(signal.SIGSEGV)\n"
    "outs = llm.generate(prompts, max_tokens=40, progress=progress)\n"
    "print('SEGV', len(outs), sum(g.ok for o in outs for g in o.generations),"
    " sorted({type(g.error).__name__ for o in outs for g in o.generations if g.error}))",
    "killed, progress = killer(signal.SIGKILL)\n"
    "outs = llm.generate(prompts, max_tokens=40, progress=progress, fresh=True)\n"
    "print('KILL', len(outs), sum(g.ok for o in outs for g in o.generations),"
    " sorted({type(g.error).__name__ for o in outs for g in o.generations if g.error}))",
    "print('KEPT', keep['answer'], os.getpid() != llm.server_process.pid, bool(llm.run('Say ok.', max_tokens=4)))",
]


def test_a_crashing_server_never_takes_the_kernel_down() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CRASH_CELLS]
    client = NotebookClient(nb, timeout=240, kernel_name="python3")
    with client.setup_kernel():
        kernel_pid = client.km.provisioner.process.pid
        for index in range(len(CRASH_CELLS)):
            client.execute_cell(nb.cells[index], index)
        for cell, label in ((nb.cells[1], "SEGV"), (nb.cells[2], "KILL")):
            words = text_of(cell).split()
            assert words[:2] == [label, "6"], text_of(cell)
            assert int(words[2]) >= 4 and "ServerDiedError" in text_of(cell), text_of(cell)
        assert "KEPT 42 True True" in text_of(nb.cells[3])
        assert client.km.provisioner.process.pid == kernel_pid and client.km.is_alive()

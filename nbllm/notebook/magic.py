"""The %%nbllm cell magic: send the cell to the current LLM and show the answer.

%load_ext nbllm
%%nbllm --temperature 0.2 --max-tokens 100
Explain recursion in one paragraph.

Runs on the kernel's thread, which waits for the answer.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import Markdown, display


@magics_class
class NBLLMMagics(Magics):
    """Holds the current LLM for this IPython session (the embedded model until you choose)."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.llm: Any = None

    def current(self) -> Any:
        if self.llm is None:
            from nbllm.llms.default import default_llm

            self.llm = default_llm()
        return self.llm

    @line_magic("nbllm_use")
    def use(self, line: str) -> Any:
        """``%nbllm_use llm_variable`` makes that LLM the one ``%%nbllm`` talks to."""
        self.llm = self.shell.user_ns[line.strip()]
        return self.llm

    @cell_magic("nbllm")
    def nbllm(self, line: str, cell: str) -> str:
        parser = argparse.ArgumentParser(prog="%%nbllm", add_help=False)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--top-p", type=float)
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--seed", type=int)
        args = parser.parse_args(shlex.split(line))
        options = {k: v for k, v in vars(args).items() if v is not None}
        answer = self.current().run(cell, **options)
        display(Markdown(answer))
        return answer


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(NBLLMMagics(ipython))

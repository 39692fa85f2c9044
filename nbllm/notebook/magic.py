"""The %%nbllm cell magic: send the cell to the current LLM and show the answer.

%load_ext nbllm
%%nbllm --temperature 0.2 --max-tokens 100
Explain recursion in one paragraph.

%nbllm_record lesson.nbllm   (every answer from here on goes into the bundle; `stop` ends it)
%nbllm_replay lesson.nbllm   (answers come from the bundle; --compare, --fallback embedded)

Runs on the kernel's thread, which waits for the answer.
"""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from nbllm.errors import UsageError


@magics_class
class NBLLMMagics(Magics):
    """Holds the current LLM for this IPython session (the embedded model until you choose)."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.llm: Any = None
        self.session: Any = None  # the open recording or replay

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

    @line_magic("nbllm_record")
    def record(self, line: str) -> Any:
        """``%nbllm_record lesson.nbllm [--fresh]`` records every answer; ``%nbllm_record stop``."""
        from nbllm.llms.bundles import record

        parser = argparse.ArgumentParser(prog="%nbllm_record", add_help=False)
        parser.add_argument("path")
        parser.add_argument("--fresh", action="store_true")
        args = self._args(parser, line)
        return self._open(line, lambda: record(args.path, fresh=args.fresh), args)

    @line_magic("nbllm_replay")
    def replay(self, line: str) -> Any:
        """``%nbllm_replay lesson.nbllm [--compare] [--fallback embedded]``; ``%nbllm_replay stop``."""
        from nbllm.llms.bundles import replay

        parser = argparse.ArgumentParser(prog="%nbllm_replay", add_help=False)
        parser.add_argument("path")
        parser.add_argument("--compare", action="store_true")
        parser.add_argument("--fallback", choices=["embedded"])
        args = self._args(parser, line)
        return self._open(line, lambda: replay(args.path, compare=args.compare, fallback=args.fallback), args)

    @staticmethod
    def _args(parser: argparse.ArgumentParser, line: str) -> Any:
        words = magic_words(line)
        if words in ([], ["stop"]):
            return None
        try:
            return parser.parse_args(words)
        except SystemExit:
            raise UsageError(
                f"{parser.prog}: expected a bundle path (and options) or stop, got {line!r}"
            ) from None

    def _open(self, line: str, start: Any, args: Any) -> Any:
        if args is None:  # nothing: show what is open; `stop`: stop it
            session = self.session
            if line.strip() == "stop" and session is not None:
                self.session = None
                session.stop()
            return session
        if self.session is not None:
            self.session.stop()
        self.session = start()
        return self.session

    @cell_magic("nbllm")
    def nbllm(self, line: str, cell: str) -> str:
        parser = argparse.ArgumentParser(prog="%%nbllm", add_help=False)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--top-p", type=float)
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--seed", type=int)
        args = parser.parse_args(magic_words(line))
        options = {k: v for k, v in vars(args).items() if v is not None}
        answer = self.current().run(cell, **options)
        from nbllm.notebook.display.html import markdown_html

        display({"text/html": markdown_html(answer), "text/plain": answer}, raw=True)
        return answer


def magic_words(line: str, platform: str = os.name) -> list[str]:
    """A magic's words as a shell would split them; on Windows a backslash is a path's, not an
    escape (``%nbllm_record C:\\Users\\me\\lesson.nbllm``), quotes still group words."""
    if platform != "nt":
        return shlex.split(line)
    return [
        w[1:-1] if len(w) > 1 and w[0] == w[-1] and w[0] in "\"'" else w
        for w in shlex.split(line, posix=False)
    ]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbllm``: adds the ``%%nbllm`` cell magic and the ``%nbllm_use``, ``%nbllm_record`` and ``%nbllm_replay`` line magics."""
    ipython.register_magics(NBLLMMagics(ipython))

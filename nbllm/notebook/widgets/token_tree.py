"""TokenTree: a generation token by token, coloured by each token's probability. Click a token
to see the alternatives the model really had there; pick one and the model writes on from
that point; the branches form a tree to walk back and forth.

Built on the kernel's thread. Every request runs on the widget's "nbllm-tokentree" thread,
so the kernel never waits; the widget's traits are set from there (ipywidgets sends them
over the comm from any thread).
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import ipywidgets as w

from nbllm.core.tokens import TokenStep, allowed
from nbllm.errors import InvalidParameterError, UsageError
from nbllm.notebook.display.style import offline_style
from nbllm.notebook.widgets.as_code import CopyAsCode, literal, widget_code
from nbllm.notebook.widgets.temperature import sampling_sliders
from nbllm.notebook.widgets.token_tree_view import TokenView

MAX_TOP_K = 20


@dataclass
class Branch:
    """One path through the tree: every token from the answer's start. A fork keeps its
    parent's tokens before `fork_at`, the picked token there, and what the model wrote next."""

    id: int
    steps: list[TokenStep]
    parent: Optional[int] = None
    fork_at: Optional[int] = None
    depth: int = 0
    sampling: dict[str, float] = field(default_factory=dict)  # the sliders it was written with

    @property
    def text(self) -> str:
        return "".join(s.token for s in self.steps)


class TokenTree(w.VBox):
    """``TokenTree(llm, prompt)``: the embedded model's own distribution (a LlamaCppLLM), or
    ``top_logprobs`` from an OpenAI-compatible server (their `token_steps` hook).

    The first answer is written in the background when the widget is made (``ready`` is its
    Future). Selecting a token sends nothing; picking an alternative asks the model to write on
    from there (``pick``), and a branch seen before is shown at once, without a request. The
    temperature and top_p sliders show which alternatives those settings allow, and set how
    the next branch is sampled."""

    def __init__(
        self,
        llm: Any,
        prompt: str,
        top_k: int = 10,
        max_tokens: int = 40,
        seed: int = 0,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
    ) -> None:
        if not hasattr(llm, "token_steps"):
            raise UsageError(
                f"{type(llm).__name__} cannot show its token choices; use the embedded model "
                "(nbllm.LlamaCppLLM()) or an OpenAILLM whose server sends logprobs."
            )
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidParameterError("prompt must be a non-empty string.", "prompt")
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidParameterError(f"top_k must be between 1 and {MAX_TOP_K}.", "top_k")
        if max_tokens < 1:
            raise InvalidParameterError("max_tokens must be at least 1.", "max_tokens")
        self.llm, self.prompt, self.top_k, self.max_tokens, self.seed = llm, prompt, top_k, max_tokens, seed
        settings = {**llm.default_params(), **llm.params.set_values()}
        self.temperature, self.top_p = sampling_sliders(
            settings.get("temperature", 1.0) if temperature is None else temperature,
            settings.get("top_p", 1.0) if top_p is None else top_p,
        )
        self._given = {"top_k": top_k, "max_tokens": max_tokens, "seed": seed}
        self.copy = CopyAsCode()
        self.view = TokenView()
        self.branches: list[Branch] = []
        self.current = 0
        self.requests = 0  # requests sent to the model: the first answer and each new branch
        self._truncation = {"top_k": 0, "min_p": 0.0}  # the engine's, for the embedded model
        self._lock = threading.Lock()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbllm-tokentree")
        super().__init__(
            [
                w.HTML(f"<b>Prompt:</b> {_escape(prompt)}"),
                w.HBox([self.temperature, self.top_p, self.copy]),
                self.view,
            ]
        )
        offline_style(self)
        self.add_class("nbllm-tokentree-widget")
        self.view.observe(lambda _: self._show_alternatives(), "selected")
        for s in (self.temperature, self.top_p):
            s.observe(lambda _: self._show_alternatives(), "value")
            s.observe(lambda _: setattr(self.copy, "code", self.as_code()), "value")
        self.copy.code = self.as_code()
        self.view.on_msg(lambda _, content, __: self._from_browser(content))
        self.ready: concurrent.futures.Future[Branch] = self._run("writing the first answer…", self._first)

    # -- what the student does (also callable from code) ----------------------------------
    @property
    def branch(self) -> Branch:
        if not self.branches:
            raise UsageError(
                f"the first answer is not written yet ({self.view.status}); wait for tree.ready."
            )
        return self.branches[self.current]

    @property
    def text(self) -> str:
        return self.branch.text

    def select(self, index: int) -> list[dict[str, Any]]:
        """Show the alternatives at token `index` of the current branch (sends nothing)."""
        if not 0 <= index < len(self.branch.steps):
            raise InvalidParameterError(
                f"the answer has {len(self.branch.steps)} tokens; index {index} is not one.", "index"
            )
        self.view.selected = index
        return list(self.view.alternatives)

    def pick(
        self, token: str, at: Optional[int] = None, branch: Optional[int] = None
    ) -> concurrent.futures.Future[Branch]:
        """Write `token` at position `at` (default: the selected token) of `branch` (default: the
        one shown now) and let the model go on from there; a Future of the branch. A branch made
        before is returned without a request."""
        index = self.view.selected if at is None else at
        source = self.current if branch is None else branch
        return self._run("writing on from there…", lambda: self._fork(source, index, token))

    def as_code(self) -> str:
        """The code that makes this tree again: its LLM, prompt, the settings changed from the
        defaults, and the picks that lead to the branch shown (each waited for in turn), with
        the sliders as they were for each answer and as they are now."""
        defaults = {"top_k": 10, "max_tokens": 40, "seed": 0}
        settings: dict[str, Any] = {k: v for k, v in self._given.items() if v != defaults[k]}
        with self._lock:
            lineage = [self.branches[self.current]] if self.branches else []
            while lineage and lineage[-1].parent is not None:
                lineage.append(self.branches[lineage[-1].parent])
        lineage.reverse()
        used = lineage[0].sampling if lineage else self._sampling()
        llm_settings = {**self.llm.default_params(), **self.llm.params.set_values()}
        settings.update({k: v for k, v in used.items() if v != llm_settings.get(k, 1.0)})
        after: list[str] = []
        for branch in [*lineage[1:], None]:
            wanted = branch.sampling if branch is not None else self._sampling()
            after += [f"tree.{k}.value = {v!r}" for k, v in wanted.items() if used.get(k) != v]
            used = wanted
            if branch is not None and branch.fork_at is not None:
                token = literal(branch.steps[branch.fork_at].token)
                after.append(f"tree.pick({token}, at={branch.fork_at}).result()")
        # the first answer is written with the sliders as made: wait for it before moving them
        after = ["tree.ready.result()", *after] if after else []
        return widget_code(self.llm, "TokenTree", "tree", [literal(self.prompt)], settings, tuple(after))

    def go(self, branch_id: int) -> Branch:
        """Show another branch (no request: every branch is kept)."""
        if not 0 <= branch_id < len(self.branches):
            raise InvalidParameterError(f"there is no branch {branch_id}.", "branch_id")
        self.current = branch_id
        self._redraw(keep=self.branch.fork_at if self.branch.fork_at is not None else -1)
        return self.branch

    def back(self) -> Branch:
        """To the branch this one forked from."""
        parent = self.branch.parent
        return self.go(parent if parent is not None else self.current)

    # -- the worker thread ---------------------------------------------------------------
    def _run(self, doing: str, work: Any) -> concurrent.futures.Future[Any]:
        def guarded() -> Any:
            self.view.busy, self.view.status = True, doing
            try:
                return work()
            except Exception as exc:  # said in the widget, and kept in the Future
                self.view.status = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                self.view.busy = False

        return self._worker.submit(guarded)

    def _params(self) -> dict[str, Any]:
        return {"temperature": self.temperature.value, "top_p": self.top_p.value, "seed": self.seed}

    def _first(self) -> Branch:
        if hasattr(self.llm, "sampler_settings"):
            engine = self.llm.sampler_settings()
            self._truncation = {
                "top_k": int(engine.get("top_k") or 0),
                "min_p": float(engine.get("min_p") or 0.0),
            }
        sampling = self._sampling()
        steps = self._ask("", self.max_tokens)
        with self._lock:
            self.branches.append(Branch(0, steps, sampling=sampling))
        self._redraw(keep=-1)
        return self.branches[0]

    def _sampling(self) -> dict[str, float]:
        return {"temperature": round(self.temperature.value, 2), "top_p": round(self.top_p.value, 2)}

    def _ask(self, prefix: str, max_tokens: int) -> list[TokenStep]:
        self.requests += 1
        return self.llm.token_steps(self.prompt, prefix, self.top_k, max_tokens=max_tokens, **self._params())

    def _fork(self, source: int, index: int, token: str) -> Branch:
        if not 0 <= source < len(self.branches):
            raise InvalidParameterError(f"there is no branch {source}.", "branch")
        parent = self.branches[source]
        if not 0 <= index < len(parent.steps):
            raise InvalidParameterError("select a token of the answer first.", "at")
        while parent.parent is not None and parent.fork_at is not None and index < parent.fork_at:
            parent = self.branches[parent.parent]  # a token of the shared part: fork from its owner
        step = parent.steps[index]
        if token == step.token:
            return parent
        known = self._branch_with([s.token for s in parent.steps[:index]] + [token])
        if known is not None:
            return self.go(known)
        choices = dict(_with_written(step))
        if token not in choices:
            raise InvalidParameterError(
                f"{token!r} is not one of the model's alternatives at token #{index}.", "token"
            )
        prefix = "".join(s.token for s in parent.steps[:index]) + token
        sampling = self._sampling()
        rest = self._ask(prefix, max(1, self.max_tokens - index - 1))
        with self._lock:
            branch = Branch(
                len(self.branches),
                [*parent.steps[:index], TokenStep(token, choices[token], step.alternatives), *rest],
                parent=parent.id,
                fork_at=index,
                depth=parent.depth + 1,
                sampling=sampling,
            )
            self.branches.append(branch)
        self.current = branch.id
        self._redraw(keep=index)
        return branch

    def _branch_with(self, tokens: list[str]) -> Optional[int]:
        """The branch that starts with `tokens`, if one was made (every branch is kept)."""
        for b in self.branches:
            if len(b.steps) >= len(tokens) and all(s.token == t for s, t in zip(b.steps, tokens)):
                return b.id
        return None

    # -- drawing -------------------------------------------------------------------------
    def _from_browser(self, content: Any) -> None:
        if not isinstance(content, dict):
            return
        if "go" in content and isinstance(content["go"], int):
            self._run("", lambda: self.go(content["go"]))
        elif "pick" in content and isinstance(content.get("at"), int):
            shown = content.get("branch")  # the branch the student saw, even if another is on its way
            self.pick(str(content["pick"]), content["at"], shown if isinstance(shown, int) else None)

    def _redraw(self, keep: int) -> None:
        branch = self.branch
        self.view.tokens = [{"t": s.token, "p": round(s.probability, 4)} for s in branch.steps]
        self.view.branches = [self._label(b) for b in self._drawn()]
        count = len(self.branches)
        self.view.status = (
            f"{len(branch.steps)} tokens · branch #{branch.id} of {count} branch{'es' if count > 1 else ''}"
            " · click a token (or Tab to it and press Enter) to see the alternatives"
        )
        self.copy.code = self.as_code()
        if self.view.selected == keep:
            self._show_alternatives()
        else:
            self.view.selected = keep

    def _drawn(self) -> list[Branch]:
        """The branches as the tree forked: each under its parent, its forks in token order."""
        children: dict[Optional[int], list[Branch]] = {}
        for b in self.branches:
            children.setdefault(b.parent, []).append(b)
        order: list[Branch] = []

        def walk(parent: Optional[int]) -> None:
            for child in sorted(children.get(parent, []), key=lambda c: (c.fork_at or 0, c.id)):
                order.append(child)
                walk(child.id)

        walk(None)
        return order

    def _label(self, b: Branch) -> dict[str, Any]:
        # "#n" is always the index the code uses: tree.go(n), tree.select(n)
        if b.parent is None or b.fork_at is None:
            label = f"branch #{b.id}: the first answer"
        else:
            was = self.branches[b.parent].steps[b.fork_at].token
            label = (
                f"branch #{b.id}: at token #{b.fork_at}, {b.steps[b.fork_at].token!r} instead of {was!r}"
                f" (from branch #{b.parent})"
            )
        return {"id": b.id, "label": label, "depth": b.depth, "current": b.id == self.current}

    def _show_alternatives(self) -> None:
        index = self.view.selected
        if not self.branches or not 0 <= index < len(self.branch.steps):
            with self.view.hold_sync():
                self.view.alternatives, self.view.alternatives_at = [], -1
            return
        step = self.branch.steps[index]
        alternatives = _with_written(step)
        probs, exact = allowed(alternatives, self.temperature.value, self.top_p.value, **self._truncation)
        before = [s.token for s in self.branch.steps[:index]]
        rows = [
            {
                "t": token,
                "p": round(math.exp(lp), 4),
                "q": round(q, 4),
                "allowed": q > 0,
                "current": token == step.token,
                "explored": token != step.token and self._branch_with([*before, token]) is not None,
            }
            for (token, lp), q in zip(alternatives, probs)
        ]
        # one message, so the browser never shows one token's rows under another token's head
        with self.view.hold_sync():
            self.view.exact, self.view.alternatives, self.view.alternatives_at = exact, rows, index

    def close(self) -> None:
        worker = getattr(self, "_worker", None)  # None: the tree refused its settings
        if worker is not None:
            worker.shutdown(wait=False, cancel_futures=True)
        super().close()


def _with_written(step: TokenStep) -> list[tuple[str, float]]:
    """The step's alternatives, with the written token among them (a sampled unlikely token
    can fall outside the top k)."""
    if any(t == step.token for t, _ in step.alternatives):
        return step.alternatives
    return [*step.alternatives, (step.token, step.logprob)]


def _escape(text: str) -> str:
    import html

    return html.escape(text)

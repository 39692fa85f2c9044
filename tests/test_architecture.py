"""The package layout is the architecture: imports go one way, no circle, small modules and
classes. Read from the source's own import statements (those inside functions too)."""

from __future__ import annotations

import ast
import collections
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "nbllm"
# Bottom up; a module may import its own layer and those below it, never one above.
LAYERS = {"errors": 0, "core": 0, "engine": 1, "llms": 2, "scale": 3, "generators": 4, "notebook": 5}
TOP = 6  # nbllm/__init__.py, cli.py: the faces
# A module holds one concept and grows to what reads best; past this a second concept is in it.
MAX_MODULE_LINES = 600
# Methods and properties: the seed APIs, and the public calls that estimates, shared caches and
# generators use instead of an LLM's private members (plan, prompt_tokens, context_size,
# effective_system_prompt).
MAX_PUBLIC_NAMES = 37


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return TOP if len(parts) == 1 or parts[1] not in LAYERS else LAYERS[parts[1]]


def _imports() -> dict[str, set[tuple[str, int]]]:
    """Every nbllm module each module imports, at any depth, with the line."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[tuple[str, int]]] = collections.defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nbllm"):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("nbllm")]
            for target in targets:
                if target in modules and target != name:
                    edges[name].add((target, node.lineno))
    return edges


def test_no_import_climbs_a_layer() -> None:
    climbs = [
        f"{source}:{line} imports {target}"
        for source, targets in _imports().items()
        for target, line in targets
        if _layer(target) > _layer(source)
    ]
    assert not climbs, "\n".join(sorted(climbs))


def test_there_is_no_import_circle() -> None:
    graph = {source: {t for t, _ in targets} for source, targets in _imports().items()}
    circles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(circles)


def test_the_checker_sees_a_planted_circle_and_climb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "nbllm"
    (package / "core").mkdir(parents=True)
    (package / "notebook").mkdir()
    for init in (package, package / "core", package / "notebook"):
        (init / "__init__.py").write_text("")
    (package / "core" / "a.py").write_text("def f():\n    from nbllm.notebook import b\n")
    (package / "notebook" / "b.py").write_text("from nbllm.core import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", package)
    with pytest.raises(AssertionError, match=r"nbllm\.core\.a:2 imports nbllm\.notebook\.b"):
        test_no_import_climbs_a_layer()
    with pytest.raises(AssertionError, match=r"nbllm\.core\.a -> nbllm\.notebook\.b -> nbllm\.core\.a"):
        test_there_is_no_import_circle()


def test_modules_stay_small() -> None:
    sizes = {
        p.relative_to(ROOT.parent): len(p.read_text(encoding="utf-8").splitlines())
        for p in ROOT.rglob("*.py")
    }
    assert not {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES}


def test_every_module_says_which_thread_runs_it() -> None:
    """Each module's docstring names the thread its code runs on (or says it is pure)."""
    silent = []
    for path in sorted(ROOT.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if not re.search(r"thread|I/O loop", doc, re.I):
            silent.append(str(path.relative_to(ROOT.parent)))
    assert not silent, "no thread named in the module docstring of:\n" + "\n".join(silent)


def test_the_llm_facade_stays_thin() -> None:
    from pydantic import BaseModel

    from nbllm import LLM, LlamaCppLLM, OpenAILLM

    inherited = set(dir(BaseModel))
    for cls in (LLM, LlamaCppLLM, OpenAILLM):
        public = [
            n
            for n in dir(cls)
            if not n.startswith("_")
            and n not in inherited
            and (callable(getattr(cls, n)) or isinstance(getattr(cls, n), property))
        ]
        assert len(public) <= MAX_PUBLIC_NAMES + (0 if cls is LLM else 5), (cls.__name__, sorted(public))


# Members a higher layer may touch though they start with "_": namedtuple's own API, IPython's
# display protocol (below), and a generator handing its log parent to another generator (same layer).
ALLOWED_PRIVATE = {"_replace", ("nbllm/generators/examples.py", "_parent")}
DISPLAY_PROTOCOL = ("_repr_", "_ipython_")  # _repr_html_, _repr_mimebundle_, _ipython_display_


def _private_uses(path: Path) -> list[str]:
    """`obj._member` (and getattr(obj, "_member")) on anything but self or cls."""
    relative = str(path.relative_to(ROOT.parent))
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            owner, member = ast.unparse(node.value), node.attr
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in {"getattr", "hasattr"}
            and len(node.args) > 1
        ):
            owner, member = ast.unparse(node.args[0]), getattr(node.args[1], "value", "")
        else:
            continue
        private = isinstance(member, str) and member.startswith("_") and not member.startswith("__")
        private = private and not (member.startswith(DISPLAY_PROTOCOL) and member.endswith("_"))
        if private and owner not in {"self", "cls", "super()"}:
            if member not in ALLOWED_PRIVATE and (relative, member) not in ALLOWED_PRIVATE:
                found.append(f"{relative}:{node.lineno} {owner}.{member}")
    return found


def test_no_higher_layer_reaches_into_a_lower_ones_private_members() -> None:
    """Above the backends (scale, generators, notebook, the faces), code uses public calls only:
    a helper that needs an LLM's internals is a method, or the LLM offers a public call."""
    higher = [p for p in ROOT.rglob("*.py") if _layer(_module(p)) > LAYERS["llms"]]
    found = [use for path in sorted(higher) for use in _private_uses(path)]
    assert not found, "\n".join(found)


def test_private_use_is_detected(tmp_path: Path) -> None:
    probe = ROOT / "notebook" / "_probe_private.py"
    probe.write_text(
        '"""Probe; no thread."""\n\n\ndef f(llm):\n    return llm._engine_config(), getattr(llm, "_render")\n'
    )
    try:
        assert len(_private_uses(probe)) == 2
    finally:
        probe.unlink()


def test_folders_stay_small_and_named_by_feature() -> None:
    """No folder holds more than 20 modules, nor more than three named `prefix_*` (a package in
    disguise)."""
    for folder in [ROOT, *(p for p in ROOT.rglob("*") if p.is_dir() and (p / "__init__.py").exists())]:
        modules = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        assert len(modules) <= 20, (folder, len(modules))
        prefixes = collections.Counter(m.split("_")[0] for m in modules if "_" in m)
        assert all(n <= 3 for n in prefixes.values()), (folder, prefixes.most_common(3))

"""Runs every benchmark, prints the table and writes benchmarks/results/latest.json.

python benchmarks/run.py            # everything (a few minutes)
python benchmarks/run.py clients    # only the suites whose name contains "clients"
python benchmarks/run.py clients asgi --out benchmarks/results/latest.json  # two suites, one run
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import clients, embedded, local
from benchmarks.common import Figure

SUITES = {
    "clients": clients.overhead_figures,
    "asgi": clients.asgi_figures,
    "generators": lambda: [clients.generator_figure()],
    "cache": lambda: [clients.cache_figure()],
    "embedded": embedded.embedded_figures,
    "embedded-memory": embedded.memory_figures,
    "embedded-reproducible": embedded.reproducible_figures,
    "pool": lambda: [local.pool_figure()],
    "ray": local.ray_figures,
    "import": lambda: [local.import_figure()],
    "dataframe": lambda: [local.dataframe_figure()],
}


def _met(figure: Figure) -> str:
    """yes or NO against a target; a figure only reported has none to meet."""
    return "—" if figure.target == "report" else "yes" if figure.met else "NO"


def table(figures: list[Figure]) -> str:
    lines = ["| figure | nbllm | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(
            f"| {f.name} | {f.nbllm:.3f} {f.unit} | {f.baseline:.3f} {f.unit} | {f.ratio:.2f}x | {f.target} | "
            f"{_met(f)}{' — ' + f.note if f.note else ''} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """What the figures were measured on (the documentation's performance page shows it)."""
    parts = [f"{platform.system()} {platform.machine()}", f"{os.cpu_count()} cores"]
    try:  # Linux: memory and CPU model
        memory = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    except OSError:
        memory = model = None
    if memory:
        parts.append(f"{int(memory.group(1)) / 2**20:.0f} GiB")
    if model:
        parts.append(model.group(1).strip())
    return ", ".join(parts)


def main(args: list[str]) -> int:
    out = Path(__file__).resolve().parent / "results" / "latest.json"
    if "--out" in args:
        at = args.index("--out")
        out = Path(args[at + 1])
        args = args[:at] + args[at + 2 :]
    selected = args
    started = time.time()
    figures: list[Figure] = []
    for name, suite in SUITES.items():
        if selected and not any(s in name for s in selected):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(suite())
    print(table(figures))
    out.write_text(
        json.dumps(
            {
                "seconds": round(time.time() - started, 1),
                "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
                "machine": machine(),
                "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
            },
            indent=2,
        )
    )
    print(f"\n{len(figures)} figures in {time.time() - started:.0f} s; JSON in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

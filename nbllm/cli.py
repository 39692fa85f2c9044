"""The `nbllm` command: generate from the terminal and print a table of generations.

Runs on the caller's thread (the terminal's), which waits while the generation runs on nbllm's
I/O loop.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence

from nbllm.errors import NBLLMError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbllm", description="Work with LLMs from the terminal.")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate from a prompt and print the generations")
    gen.add_argument("prompt", help="the prompt text")
    gen.add_argument("-n", "--num-generations", type=int, default=1, help="samples to generate")
    gen.add_argument("--temperature", type=float)
    gen.add_argument("--top-p", type=float)
    gen.add_argument("--max-tokens", type=int)
    gen.add_argument("--seed", type=int)
    gen.add_argument(
        "--reasoning-effort",
        choices=("none", "minimal", "low", "medium", "high", "xhigh"),
        help="how much a reasoning model thinks (which values a model takes differs)",
    )
    gen.add_argument("--verbosity", choices=("low", "medium", "high"), help="a gpt-5 model's answer length")
    gen.add_argument(
        "--extra-body",
        type=_json_object,
        help='a server\'s own options as JSON, e.g. \'{"chat_template_kwargs": {"enable_thinking": false}}\'',
    )
    gen.add_argument("--show-thinking", action="store_true", help="print a reasoning model's thinking too")
    gen.add_argument("--model", help="a .gguf file, or a model name served at --base-url")
    gen.add_argument("--base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    gen.add_argument("--system", help="a system prompt")
    gen.add_argument("--fresh", action="store_true", help="skip the cache lookup: new samples")
    gen.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    sub.add_parser(
        "check",
        help="start the embedded model's server in its own process, decode a few tokens, say what runs",
    )
    serve = sub.add_parser(
        "serve",
        help="run one embedded-model server for every user's kernels on this machine (a service)",
        description="Runs the embedded model's server for every kernel that names it: set "
        "NBLLM_SERVER=HOST:PORT and NBLLM_SERVER_KEY_FILE (or NBLLM_SERVER_KEY) in the kernels' "
        "environment. Runs until stopped (Ctrl-C or SIGTERM).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="the address kernels connect to")
    serve.add_argument("--port", type=int, default=8766, help="the port kernels connect to")
    serve.add_argument(
        "--key-file",
        help="the file holding the key kernels must give; made (readable by its owner and group) "
        "if missing. Default: the NBLLM_SERVER_KEY environment variable",
    )
    serve.add_argument("--n-parallel", type=int, help="sequences decoded together (default 16)")
    serve.add_argument("--n-ctx", type=int, help="context tokens per sequence (default 2048)")
    serve.add_argument("--threads", type=int, help="decode threads (default: up to 4 cores)")
    return parser


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object ({...})")
    return value


def check() -> int:
    """What the embedded model runs on, proven by one short generation in the server process."""
    import importlib.metadata
    import time

    from nbllm.llms.llamacpp.llm import LlamaCppLLM

    llm = LlamaCppLLM(cache=False, concurrency=1)
    try:
        binary = llm.server_process.settings.server_binary
        server = f"llama-server at {binary}" if binary else None
        server = server or f"llama.cpp server from xllamacpp {importlib.metadata.version('xllamacpp')}"
    except importlib.metadata.PackageNotFoundError:
        print(
            "nbllm: error: the embedded model's server needs xllamacpp: pip install xllamacpp",
            file=sys.stderr,
        )
        return 2
    except NBLLMError as exc:
        print(f"nbllm: error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        (output,) = llm.generate("Say hello.", max_tokens=8, temperature=0)
    except NBLLMError as exc:
        print(f"nbllm: error: {exc}", file=sys.stderr)
        return 2
    generation = output.generations[0]
    if not generation.ok:
        print(f"nbllm: error: {generation.error}", file=sys.stderr)
        return 2
    process = llm.server_process
    print(f"server: {server} (process {process.pid}, 127.0.0.1)")
    print(f"model: {llm.resolved_path}")
    print(
        f"first answer in {time.perf_counter() - started:.1f} s (server start included): {generation.text!r}"
    )
    return 0


def serve(args: argparse.Namespace) -> int:
    """Run the machine's embedded-model server in the foreground until stopped."""
    import os
    import secrets
    import signal
    from pathlib import Path

    from nbllm.llms.llamacpp.llm import served_settings
    from nbllm.llms.llamacpp.supervisor import Supervisor

    key = os.environ.get("NBLLM_SERVER_KEY")
    if args.key_file:
        path = Path(args.key_file)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24) + "\n")
            os.chmod(path, 0o640)
        key = path.read_text().strip()
    if not key:
        print("nbllm: error: give --key-file FILE, or set NBLLM_SERVER_KEY", file=sys.stderr)
        return 2
    config = {"n_parallel": args.n_parallel, "n_ctx": args.n_ctx, "n_threads": args.threads}
    try:
        llm, settings, model = served_settings(**{k: v for k, v in config.items() if v is not None})
        supervisor = Supervisor(settings, key, host=args.host, port=args.port, model=model)
    except (NBLLMError, OSError) as exc:
        print(f"nbllm: error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, supervisor.stop)
    where = f"NBLLM_SERVER={supervisor.lease_address}"
    named_key = f"NBLLM_SERVER_KEY_FILE={args.key_file}" if args.key_file else "NBLLM_SERVER_KEY"
    print(f"nbllm: serving {llm.model_name} ({settings.n_parallel} sequences of {settings.n_ctx} tokens)")
    print(f"nbllm: kernels use it with {where} and {named_key} in their environment", flush=True)
    try:
        supervisor.run(start=True)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # Windows: a redirected stdout is cp1252
        sys.stdout.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return check()
    if args.command == "serve":
        return serve(args)
    from nbllm.llms.default import default_llm

    overrides = {
        key: value
        for key, value in {
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_tokens": args.max_tokens,
            "seed": args.seed,
            "reasoning_effort": args.reasoning_effort,
            "verbosity": args.verbosity,
            "extra_body": args.extra_body,
        }.items()
        if value is not None
    }
    try:
        llm = default_llm(args.model, args.base_url, system_prompt=args.system, cache=not args.no_cache)
        (output,) = llm.generate(
            args.prompt, num_generations=args.num_generations, fresh=args.fresh, **overrides
        )
    except NBLLMError as exc:
        print(f"nbllm: error: {exc}", file=sys.stderr)
        return 2
    print(render_table(output, args.show_thinking))
    return 1 if output.errors else 0


def render_table(output, show_thinking: bool = False) -> str:
    """A plain-text table: one row per generation with its token statistics; where a reasoning
    model thought, `think` says how many of the output tokens were thinking (~: estimated)."""
    thought = any(g.stats.reasoning_tokens for g in output.generations)
    header = ("#", "in", "out", *(("think",) if thought else ()), "latency", "tok/s", "cached", "finish")
    header = (*header, "generation")
    rows = []
    for g in output.generations:
        s = g.stats
        text = g.text if g.error is None else f"ERROR: {g.error}"
        if show_thinking and g.reasoning:
            text = f"[thinking: {g.reasoning}] {text}"
        rows.append(
            (
                str(g.sample_index),
                str(s.input_tokens),
                str(s.output_tokens),
                *((str(s.reasoning_tokens) + ("~" if s.reasoning_estimated else ""),) if thought else ()),
                f"{s.latency:.2f}s",
                f"{s.tokens_per_second:.1f}",
                "yes" if s.cache_hit else "no",
                str(s.finish_reason or "-"),
                text or "",
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header[:-1])]
    indent = sum(widths) + 2 * len(widths)
    lines = [f"model: {output.model_name}"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  " + header[-1])
    for row in rows:
        wrapped = textwrap.wrap(row[-1].replace("\n", " "), width=max(30, 100 - indent)) or [""]
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + wrapped[0])
        lines.extend(" " * indent + more for more in wrapped[1:])
    total_in = sum(g.stats.input_tokens for g in output.generations)
    total_out = sum(g.stats.output_tokens for g in output.generations)
    lines.append(f"tokens: {total_in} in, {total_out} out")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

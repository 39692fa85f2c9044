"""A real llama.cpp server that splits the embedded model's thinking from its answer.

The server is llama.cpp's own HTTP server as the ``xllamacpp`` wheel builds it (the server nbllm's
embedded backend runs), serving the embedded SmolLM2-135M-Instruct GGUF. Three parts make a model
that was never trained to think write, and the server return, real ``reasoning_content``:

- the jinja chat template (``--jinja``) is ChatML that renders an assistant message's
  ``reasoning_content`` as ``<think>\\n…\\n</think>\\n\\n`` (as Qwen3's does) and opens a think block
  in the generation prompt (``<|im_start|>assistant\\n<think>\\n``). llama.cpp's chat-format analysis
  (``common/chat`` autoparser: it renders the template with and without reasoning and reads the
  markers off the difference) then knows ``<think>``/``</think>`` and that the block is already open;
- ``reasoning_format`` deepseek (``--reasoning-format deepseek``): thoughts go to
  ``message.reasoning_content``, and in a stream to ``delta.reasoning_content``;
- a GBNF grammar sent with each request (``"grammar"`` in the body, nbllm's ``extra_body``) makes
  the 135M model write a thought, then ``</think>``, then a one-sentence answer.

The same server as a command line: ``llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --jinja
--reasoning-format deepseek --chat-template-file think.jinja -np 3`` (TEMPLATE in the file).

The ``llama-server`` of ``llama-cpp-server-py-core`` 0.1.4 (the test extras' build, a llama.cpp
of spring 2025) splits only whole answers: its ``--reasoning-format`` is "only supported for
non-streamed responses" (common/arg.cpp), its stream chunks carry only ``content``, and it
extracts thinking only for templates it takes for DeepSeek R1's or Command R7B's, by their
tool-call tokens (common/chat.cpp). ``legacy_reasoning_llama_server`` is that server, with
LEGACY_MARKER in the template: a real server of the older kind, thinking left inline in streams.

Run alone: ``python -m tests.servers.reasoning_server --port 8124``; stops when stdin closes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ALIAS = "smollm2-think"
PARALLEL = 3  # requests served at once; also the most choices (``n``) one request may ask for
CONTEXT = 2048  # tokens per slot
STARTUP_TIMEOUT = 120.0

TEMPLATE = """\
{%- for message in messages %}
{%- if message.role == 'assistant' %}
{{- '<|im_start|>assistant\\n' }}
{%- if message.reasoning_content %}{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}{%- endif %}
{{- message.content + '<|im_end|>\\n' }}
{%- else %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n<think>\\n' }}
{%- endif %}
"""

# The older llama.cpp (common/chat.cpp, common_chat_templates_apply_jinja) takes a template for
# DeepSeek R1's, whose answers it splits at </think>, when the template holds this token.
LEGACY_MARKER = "{#- llama.cpp of spring 2025 detects DeepSeek R1 by <｜tool▁calls▁begin｜> -#}\n"

# A thought of 10 to 200 characters on one line, the closing tag, then one sentence: at most
# about 150 tokens, so an answer ends (finish_reason "stop") within max_tokens 200.
GRAMMAR = r"""root ::= thought "\n</think>\n\n" answer
thought ::= [^<\n]{10,200}
answer ::= [^<\n.]{1,120} "."
"""


@dataclass(frozen=True)
class ReasoningServer:
    """A running reasoning server: its base URL (``…/v1``), model alias and what a request carries."""

    url: str
    model: str
    grammar: str | None
    extra_body: dict[str, Any] = field(default_factory=dict)
    log: Path | None = None


def serve(port: int, model_path: str, threads: int = 2) -> None:
    """Run the server in this process until stdin closes (the parent gone or done)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model_path
    params.model_alias = {ALIAS}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_parallel = PARALLEL
    params.n_ctx = CONTEXT * PARALLEL
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.use_jinja = True
    params.chat_template = TEMPLATE
    params.reasoning_format = xllamacpp.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    sys.stdin.read()
    del server


@contextmanager
def running(command: list[str], log: Path, **popen: Any) -> Iterator[str]:
    """Start a server, wait until /health answers 200 (never a fixed sleep), stop it after."""
    from tests.conftest import free_port, stop_process, wait_http

    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [a.replace("{port}", str(port)) for a in command], stdout=out, stderr=subprocess.STDOUT, **popen
        )
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/health", timeout=STARTUP_TIMEOUT, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(
                f"{command[0]} did not start ({exc}); its log:\n{log.read_text()[-3000:]}"
            ) from None
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        stop_process(proc)


@pytest.fixture(scope="module")
def reasoning_llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReasoningServer]:
    """llama.cpp's server (xllamacpp) on 127.0.0.1 whose answers carry real ``reasoning_content``,
    whole and streamed, when a request carries ``extra_body`` (the grammar)."""
    import nbllm

    log = tmp_path_factory.mktemp("reasoning-server") / "server.log"
    command = [sys.executable, "-m", "tests.servers.reasoning_server", "--port", "{port}"]
    env = {**os.environ, "NBLLM_REASONING_MODEL": str(nbllm.embedded_model_path())}
    root = str(Path(__file__).parents[2])
    with running(command, log, stdin=subprocess.PIPE, cwd=root, env=env) as url:
        yield ReasoningServer(url, ALIAS, GRAMMAR, {"grammar": GRAMMAR}, log)


@pytest.fixture(scope="module")
def legacy_reasoning_llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReasoningServer]:
    """The test extras' older ``llama-server`` (llama-cpp-server-py-core) set up to split thinking as
    far as it can: whole answers get ``reasoning_content`` (its content keeps the blank line after
    ``</think>``), streams do not: their ``delta.content`` carries the thought, ``</think>`` and the
    answer (no ``<think>``: the template opened it), as llama.cpp did before streamed reasoning."""
    import llama_cpp_server_py_core as core

    import nbllm

    binary = Path(core.__file__).parent / "lib" / "llama-server"
    folder = tmp_path_factory.mktemp("legacy-reasoning-server")
    template = folder / "think.jinja"
    template.write_text(LEGACY_MARKER + TEMPLATE, encoding="utf-8")
    command = [
        str(binary), "-m", str(nbllm.embedded_model_path()),
        "--host", "127.0.0.1", "--port", "{port}", "-t", "2", "-c", str(CONTEXT),
        "--jinja", "--reasoning-format", "deepseek", "--chat-template-file", str(template),
        "--alias", ALIAS,
    ]  # fmt: skip
    env = {**os.environ, "LD_LIBRARY_PATH": str(binary.parent)}
    with running(command, folder / "server.log", env=env) as url:
        yield ReasoningServer(url, ALIAS, GRAMMAR, {"grammar": GRAMMAR}, folder / "server.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default=os.environ.get("NBLLM_REASONING_MODEL"), help="a GGUF file")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.model is None:
        import nbllm

        args.model = str(nbllm.embedded_model_path())
    serve(args.port, args.model, args.threads)


if __name__ == "__main__":
    main()

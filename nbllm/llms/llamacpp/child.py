"""The child process that runs llama.cpp's server for the embedded model (never the kernel).

Started by ``nbllm.llms.llamacpp.server`` as ``python -m nbllm.llms.llamacpp.child CONFIG``
(CONFIG is JSON). It runs llama.cpp's own C++ server on 127.0.0.1, answering only requests that
carry the parent's key, in one of two ways:

- in this process, from the prebuilt, portable ``xllamacpp`` wheel (the default), at a port the
  OS picks;
- as a ``llama-server`` binary of the user's own (a native or Homebrew build, named by
  ``server_binary`` or ``NBLLM_LLAMA_SERVER``), started as this process's child with the same
  settings; if it dies, this process ends the same way, so the parent sees one death either way.

Once the model has loaded it prints one line, ``NBLLM-READY <address>``, on stdout: the parent's
readiness signal. It lives until its stdin closes (the parent stopped it, or died), so it never
outlives its kernel.

Runs on the child's main thread (and, with a binary, one thread that watches it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

READY = "NBLLM-READY"
# The exit code of a start that cannot work (the model file does not load): the parent
# remembers it. Any other death while starting (a kill, a crash, a timeout) is tried again.
LOAD_FAILED = 78
# llama.cpp's server on 127.0.0.1 is reached directly, never through a system proxy.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _params(config: dict) -> object:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    params.n_parallel = config["n_parallel"]
    params.n_ctx = config["n_ctx"] * config["n_parallel"]  # a context of its own for each slot
    params.cpuparams.n_threads = config["n_threads"]
    params.cpuparams_batch.n_threads = config["n_threads_batch"]
    params.n_gpu_layers = config["n_gpu_layers"]
    params.cache_type_k = params.cache_type_v = getattr(
        xllamacpp.ggml_type, f"GGML_TYPE_{config['kv_cache_type'].upper()}"
    )
    if config["kv_cache_type"] != "f16":  # a quantized V cache is read by flash attention only
        params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
    params.cache_ram_mib = 0  # no copies of finished prompts in RAM: see binary_env
    if config["n_gpu_layers"] == 0:  # no GPU at all (as --device none): a Mac in a VM has no Metal
        params.no_op_offload = True
        params.split_mode = xllamacpp.llama_split_mode.LLAMA_SPLIT_MODE_NONE
        params.main_gpu = -1
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.api_keys = [os.environ["NBLLM_ENGINE_KEY"]]
    params.n_threads_http = max(2, config["n_parallel"])
    params.endpoint_props = True
    params.warmup = True
    if config.get("chat_template"):
        params.chat_template = config["chat_template"]
    if config.get("embedding"):
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_NONE
    return params


def binary_command(config: dict, port: int) -> list[str]:
    """The ``llama-server`` command line for the same settings the wheel's server gets (the
    key goes in the environment, never on the command line, where other users could read it)."""
    command = [
        config["server_binary"], "--model", config["model_path"], "--host", "127.0.0.1",
        "--port", str(port), "--parallel", str(config["n_parallel"]),
        "--ctx-size", str(config["n_ctx"] * config["n_parallel"]),
        "--threads", str(config["n_threads"]), "--threads-batch", str(config["n_threads_batch"]),
        "--n-gpu-layers", str(config["n_gpu_layers"]),
        "--cache-type-k", config["kv_cache_type"], "--cache-type-v", config["kv_cache_type"], "--props",
    ]  # fmt: skip
    if config["n_gpu_layers"] == 0:
        command += ["--device", "none"]
    if config.get("chat_template"):
        command += ["--chat-template", config["chat_template"]]
    if config.get("embedding"):
        command += ["--embeddings", "--pooling", "none"]
    return command


def binary_env(config: dict) -> dict[str, str]:
    """The settings a ``llama-server`` takes from its environment: those whose flags differ
    between llama.cpp versions (an older build ignores a variable it does not know, where it
    refuses a flag). Its prompt cache in RAM is off, as the wheel's: it copied each finished
    prompt's context there, growing the server by megabytes a prompt up to 8 GiB, where nbllm's
    own cache answers repeats and each slot keeps its last prompt for reuse. A quantized cache
    turns flash attention on, which older builds leave off."""
    env = {"LLAMA_ARG_CACHE_RAM": "0"}
    if config["kv_cache_type"] != "f16":
        env["LLAMA_ARG_FLASH_ATTN"] = "1"  # "-fa" alone in older builds, "-fa on" in newer ones
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(address: str) -> bool:
    try:
        with DIRECT.open(f"{address}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False  # not listening yet, or 503 while the model loads


def exit_status(code: int, platform: str = os.name) -> int:
    """A code ``os._exit`` takes: Windows' crash codes (0xC0000005...) as the signed int they are."""
    if platform != "nt":
        return code
    code &= 0xFFFFFFFF
    return code - (1 << 32) if code >= 1 << 31 else code


def exit_like(code: int) -> None:
    """End this process as the server ended: by the same signal on POSIX, the same code elsewhere."""
    sys.stdout.flush()
    sys.stderr.flush()
    if code < 0 and os.name == "posix":
        sig = -code
        try:  # Python's own handler (SIGINT, SIGTERM) would not end the process
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL has none; off the main thread none can be set
            pass
        os.kill(os.getpid(), sig)
        time.sleep(1)  # the signal ends the process; if it was blocked, the code below does
        os._exit(128 + sig)
    os._exit(exit_status(code))


def _no_window() -> dict:
    """No console window of its own for a server started from a kernel without one (Windows)."""
    return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)} if os.name == "nt" else {}


def _crash_code(code: int) -> bool:
    return os.name == "nt" and (code & 0xFFFFFFFF) >= 0xC0000000


def _run_binary(config: dict) -> None:
    port = _free_port()
    env = {**os.environ, **binary_env(config), "LLAMA_API_KEY": os.environ["NBLLM_ENGINE_KEY"]}
    server = subprocess.Popen(
        binary_command(config, port),
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr,
        stderr=sys.stderr,
        env=env,
        **_no_window(),
    )
    address = f"http://127.0.0.1:{port}"
    while not _healthy(address):
        code = server.poll()
        if code is not None:  # an error exit before it was ready: the model (or a flag) is refused
            exit_like(LOAD_FAILED if code > 0 and not _crash_code(code) else code)
        time.sleep(0.1)
    stopping = threading.Event()

    def watch() -> None:
        code = server.wait()
        if not stopping.is_set():
            exit_like(code)

    threading.Thread(target=watch, daemon=True).start()
    print(f"{READY} {address}", flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    stopping.set()
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("server_binary"):
        _run_binary(config)
        return
    import xllamacpp

    # What native code writes to stdout goes to the log: only the readiness line uses the pipe.
    ready = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        server = xllamacpp.Server(_params(config))
    except Exception as exc:  # the model did not load: llama.cpp said why in the log
        print(f"nbllm: the server could not load the model: {exc}", file=sys.stderr, flush=True)
        os._exit(LOAD_FAILED)  # at once: the parent reads the code as soon as stdout closes
    print(f"{READY} {server.listening_address}", file=ready, flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    del server


if __name__ == "__main__":
    main()

"""The child process that runs llama.cpp's server for the embedded model (never the kernel).

Started by ``nbllm.llms.llamacpp_server`` as ``python -m nbllm.llms.llamacpp_child CONFIG``
(CONFIG is JSON). It loads the model into llama.cpp's own C++ server (from the prebuilt,
portable ``xllamacpp`` wheel), listening on 127.0.0.1 at a port the OS picks and answering only
requests that carry the parent's key. Once the model has loaded and decoded a warm-up token it
prints one line, ``NBLLM-READY <address>``, on stdout: the parent's readiness signal. It lives
until its stdin closes (the parent stopped it, or died), so it never outlives its kernel.

Runs on the child's main thread; llama.cpp's own threads do the HTTP serving and decoding.
"""

from __future__ import annotations

import json
import os
import sys

READY = "NBLLM-READY"


def _params(config: dict) -> object:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    params.n_parallel = config["n_parallel"]
    params.n_ctx = config["n_ctx"] * config["n_parallel"]  # the context is shared by the slots
    params.cpuparams.n_threads = config["n_threads"]
    params.cpuparams_batch.n_threads = config["n_threads_batch"]
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


def main() -> None:
    config = json.loads(sys.argv[1])
    import xllamacpp

    server = xllamacpp.Server(_params(config))
    print(f"{READY} {server.listening_address}", flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    del server


if __name__ == "__main__":
    main()

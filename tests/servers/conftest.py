"""Three real OpenAI-compatible servers, each serving the embedded model on 127.0.0.1:
llama-cpp-python's server, llama.cpp's own ``llama-server``, and LiteLLM's proxy (in its own
virtual environment) in front of a llama-cpp-python server. Each requires an API key.

Each server starts when the first test needs it and stops after its tests (module scope,
parametrized, so pytest runs one server's tests together and only one server is up at a time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import nbllm
from tests.conftest import free_port, stop_process
from tests.servers.litellm_env import litellm_command

KEY = "sk-nbllm-test"
LIMITED_KEY = "sk-nbllm-limited"
ALIAS = "smollm2"
SERVERS = ["llama-cpp-python", "llama-server", "litellm"]


@dataclass
class Endpoint:
    """A running server: where it is, its key, and a way to hit its rate limit."""

    name: str
    url: str
    key: str
    limited_url: str
    limited_key: str
    expects: dict[str, Any] = field(default_factory=dict)

    def llm(self, **settings: Any) -> nbllm.OpenAILLM:
        settings.setdefault("cache", False)
        return nbllm.OpenAILLM(model=ALIAS, base_url=self.url, api_key=self.key, **settings)


def wait_answering(url: str, timeout: float, proc: subprocess.Popen) -> None:
    """Wait until `url` gives any HTTP answer (a 401 too: the server is up and checks keys)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}: {proc.args[:3]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start(stack: ExitStack, args: list[str], log: Path, ready: str, timeout: float = 120, **kw: Any) -> None:
    out = stack.enter_context(open(log, "wb"))
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kw)
    stack.callback(stop_process, proc)
    try:
        wait_answering(ready, timeout, proc)
    except Exception:
        raise RuntimeError(f"{args[0]} did not start; its log:\n{log.read_text()[-3000:]}") from None


def llama_cpp_python(stack: ExitStack, logs: Path) -> str:
    port = free_port()
    start(
        stack,
        [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(nbllm.embedded_model_path()),
            "--model_alias", ALIAS,
            "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", "2048", "--verbose", "False",
            "--api_key", KEY,
        ],
        logs / "llama-cpp-python.log",
        f"http://127.0.0.1:{port}/v1/models",
    )  # fmt: skip
    return f"http://127.0.0.1:{port}"


def llama_server(stack: ExitStack, logs: Path) -> str:
    import llama_cpp_server_py_core

    binary = Path(llama_cpp_server_py_core.__file__).parent / "lib" / "llama-server"
    port = free_port()
    start(
        stack,
        [
            str(binary), "-m", str(nbllm.embedded_model_path()),
            "--host", "127.0.0.1", "--port", str(port),
            "-np", "2", "-c", "4096", "-t", "2",
            "--alias", ALIAS, "--api-key", KEY,
        ],
        logs / "llama-server.log",
        f"http://127.0.0.1:{port}/health",
        env={**os.environ, "LD_LIBRARY_PATH": str(binary.parent)},
    )  # fmt: skip
    return f"http://127.0.0.1:{port}"


def limiter(stack: ExitStack, logs: Path, upstream: str) -> str:
    port = free_port()
    start(
        stack,
        [sys.executable, "-m", "tests.servers.limiter", "--port", str(port), "--upstream", upstream],
        logs / "limiter.log",
        f"http://127.0.0.1:{port}/health",
        cwd=str(Path(__file__).parents[2]),
    )
    return f"http://127.0.0.1:{port}"


LITELLM_AUTH = """
from fastapi import Request
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

PARALLEL = {"%(key)s": None, "%(limited)s": 1}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key in PARALLEL:
        return UserAPIKeyAuth(api_key=api_key, max_parallel_requests=PARALLEL[api_key])
    raise ProxyException(message="Invalid API key", type="auth_error", param="api_key", code=401)
"""

LITELLM_CONFIG = """
model_list:
  - model_name: %(alias)s
    litellm_params:
      model: openai/%(alias)s
      api_base: %(upstream)s/v1
      api_key: %(key)s
general_settings:
  master_key: sk-master-%(master)s
  custom_auth: litellm_auth.user_api_key_auth
"""


def litellm(stack: ExitStack, logs: Path, upstream: str) -> str:
    """LiteLLM's proxy with a custom auth hook: one good key, one limited to a request at a time."""
    command = litellm_command()
    home = logs / "litellm"
    home.mkdir()
    (home / "litellm_auth.py").write_text(LITELLM_AUTH % {"key": KEY, "limited": LIMITED_KEY})
    (home / "config.yaml").write_text(
        LITELLM_CONFIG % {"alias": ALIAS, "upstream": upstream, "key": KEY, "master": os.urandom(16).hex()}
    )
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from the internet at start
        "LITELLM_TELEMETRY": "False",
        "PYTHONPATH": str(home),
    }
    start(
        stack,
        [str(command), "--config", str(home / "config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
        logs / "litellm.log",
        f"http://127.0.0.1:{port}/health/liveliness",
        timeout=180,
        cwd=str(home),
        env=env,
    )
    return f"http://127.0.0.1:{port}"


EXPECTS = {
    "llama-cpp-python": {"structured_output": "json_object", "n": "answered 1", "tokens_estimated": True},
    "llama-server": {"structured_output": "json_schema", "n": "refused", "tokens_estimated": False},
    "litellm": {"structured_output": "json_object", "n": "answered 1", "tokens_estimated": False},
}


@pytest.fixture(scope="module", params=SERVERS)
def endpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    name = request.param
    logs = tmp_path_factory.mktemp(name)
    with ExitStack() as stack:
        if name == "litellm":
            url = litellm(stack, logs, llama_cpp_python(stack, logs))
            limited_url, limited_key = url, LIMITED_KEY
        else:
            url = (llama_cpp_python if name == "llama-cpp-python" else llama_server)(stack, logs)
            limited_url, limited_key = limiter(stack, logs, url), KEY
        yield Endpoint(name, f"{url}/v1", KEY, f"{limited_url}/v1", limited_key, EXPECTS[name])

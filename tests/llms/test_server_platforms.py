"""The engine's platform branches, each where a test can reach it: how a death is put in words
(POSIX signals, Windows crash codes), how the child is kept from the kernel's Ctrl-C, which
start failures are remembered, and a llama-server binary of the user's own, run for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import nbllm
from nbllm import LlamaCppLLM
from nbllm.llms.llamacpp import child as llamacpp_child
from nbllm.llms.llamacpp import server as llamacpp_server


def test_a_death_in_words_on_each_platform() -> None:
    assert llamacpp_server.exit_words(-signal.SIGSEGV, "posix") == "it was killed by SIGSEGV"
    assert llamacpp_server.exit_words(1, "posix") == "it exited with code 1"
    assert "access violation" in llamacpp_server.exit_words(0xC0000005, "nt")
    assert "access violation" in llamacpp_server.exit_words(-1073741819, "nt")  # the same, signed
    assert llamacpp_server.exit_words(1, "nt") == "it exited with code 1"
    assert llamacpp_server.exit_words(None) == "it stopped answering"
    # the child exits as its server did: a Windows crash code as the signed int os._exit takes
    assert llamacpp_child.exit_status(0xC0000005, "nt") == -1073741819
    assert llamacpp_child.exit_status(3, "nt") == 3 and llamacpp_child.exit_status(-9, "posix") == -9


def test_the_server_is_kept_from_the_kernels_ctrl_c_on_each_platform() -> None:
    assert llamacpp_server.own_process_group("posix") == {"start_new_session": True}
    # CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW: no Ctrl-C from the console, no window of its own
    assert llamacpp_server.own_process_group("nt") == {"creationflags": 0x200 | 0x08000000}
    # its whole tree ends with it: a server binary it started too
    assert llamacpp_server.kill_tree_command(42, "nt") == ["taskkill", "/T", "/F", "/PID", "42"]
    assert llamacpp_server.kill_tree_command(42, "posix") is None  # os.killpg on its session


def test_homebrew_is_searched_on_a_mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(llamacpp_server, "MAC_BIN_DIRS", (str(tmp_path),))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert llamacpp_server.find_server_binary("llama-server", "darwin") == str(binary)
    with pytest.raises(nbllm.ModelNotFoundError):
        llamacpp_server.find_server_binary("llama-server", "linux")


def test_the_server_runs_on_the_cpu_unless_asked() -> None:
    llm = LlamaCppLLM(cache=False)
    assert llm.n_gpu_layers == 0 and llm._settings().n_gpu_layers == 0
    assert LlamaCppLLM(cache=False, n_gpu_layers=-1)._settings().n_gpu_layers == -1
    with pytest.raises(nbllm.InvalidParameterError, match="n_gpu_layers"):
        LlamaCppLLM(cache=False, n_gpu_layers=-2)


def test_a_binary_gets_the_same_settings_and_no_key_on_its_command_line() -> None:
    config = {
        "server_binary": "/opt/llama-server", "model_path": "/m/a model é.gguf", "n_parallel": 4,
        "n_ctx": 1024, "n_threads": 2, "n_threads_batch": 3, "n_gpu_layers": 0,
        "chat_template": "chatml", "embedding": True, "kv_cache_type": "q8_0",
    }  # fmt: skip
    command = llamacpp_child.binary_command(config, 8123)
    flags = dict(zip(command[1::2], command[2::2]))
    assert command[0] == "/opt/llama-server" and flags["--model"] == "/m/a model é.gguf"
    assert flags["--parallel"] == "4" and flags["--ctx-size"] == "4096" and flags["--port"] == "8123"
    assert flags["--threads-batch"] == "3" and flags["--n-gpu-layers"] == "0"
    assert flags["--cache-type-k"] == flags["--cache-type-v"] == "q8_0"
    assert "--embeddings" in command and "--chat-template" in command
    assert not any("key" in part.lower() for part in command)
    # what older and newer builds spell differently goes in the environment: no RAM prompt cache,
    # flash attention for the quantized cache (f16 leaves it to the build)
    assert llamacpp_child.binary_env(config) == {"LLAMA_ARG_CACHE_RAM": "0", "LLAMA_ARG_FLASH_ATTN": "1"}
    assert llamacpp_child.binary_env({**config, "kv_cache_type": "f16"}) == {"LLAMA_ARG_CACHE_RAM": "0"}


def test_a_missing_binary_is_named_before_any_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBLLM_LLAMA_SERVER", "no-such-llama-server")
    with pytest.raises(nbllm.ModelNotFoundError, match="NBLLM_LLAMA_SERVER names 'no-such-llama-server'"):
        _ = LlamaCppLLM(cache=False).server_process
    with pytest.raises(nbllm.ModelNotFoundError, match="server_binary names"):
        _ = LlamaCppLLM(cache=False, server_binary="/nowhere/llama-server").server_process


@pytest.mark.slow
def test_a_hung_start_is_not_remembered() -> None:
    llm = LlamaCppLLM(cache=False, n_ctx=640, start_timeout=0.05)  # an engine of its own
    with pytest.raises(nbllm.ServerStartError, match=r"did not start with .*tries again"):
        llm.load()
    # the same engine, given time: it starts (a hang or a kill is not a definite failure)
    patient = LlamaCppLLM(cache=False, n_ctx=640, start_timeout=120)
    assert patient.server_process is llm.server_process
    assert patient.run("Say hi.", max_tokens=4)


def native_llama_server() -> Path:
    import llama_cpp_server_py_core

    return Path(llama_cpp_server_py_core.__file__).parent / "lib" / "llama-server"


@pytest.mark.slow
@pytest.mark.skipif(
    sys.platform != "linux", reason="the test's native build is a Linux binary (and ps --ppid)"
)
def test_a_llama_server_of_ones_own_runs_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = native_llama_server()
    monkeypatch.setenv("LD_LIBRARY_PATH", str(binary.parent))  # that build's own libraries
    monkeypatch.setenv("NBLLM_LLAMA_SERVER", str(binary))
    llm = LlamaCppLLM(cache_path=str(tmp_path / "c.sqlite3"), concurrency=2, n_ctx=1024)
    process = llm.server_process
    assert process.settings.server_binary == str(binary)
    outputs = llm.generate(["Say hi.", "Name a colour."], max_tokens=8, temperature=0)
    assert all(g.ok and g.text.strip() for o in outputs for g in o.generations)
    assert llm.count_tokens("Hello world") >= 2
    # llama-server is the child's child; its death is the server process's death, in the same words
    server = _children(process.pid)
    assert server, "llama-server runs under nbllm's server process"
    os.kill(server[0], signal.SIGKILL)
    process.proc.wait(30)
    assert process.proc.returncode == -signal.SIGKILL
    (after,) = llm.generate(["Name a fruit."], max_tokens=8, temperature=0)
    assert after.generations[0].ok and process.restarts == 1


def _children(pid: int) -> list[int]:
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def test_the_child_ends_as_its_server_ended() -> None:
    code = "from nbllm.llms.llamacpp.child import exit_like; exit_like(-15)"
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == -15
    done = subprocess.run([sys.executable, "-c", code.replace("-15", "3")], timeout=30)
    assert done.returncode == 3

"""Records a lesson's bundle again: starts its real model server on 127.0.0.1, runs the notebook
in a real kernel with ``RECORD = True`` and checks the bundle it wrote (every answer from that
server, no key in it).

    python tools/record_lesson.py      lesson 08: the class's model server (llama.cpp's own
                                       llama-server, with an API key, on 127.0.0.1:8080, serving
                                       the embedded GGUF; needs the test extra:
                                       llama-cpp-server-py-core)
    python tools/record_lesson.py 10   lesson 10: the reasoning server (tests/servers/
                                       reasoning_server.py: llama.cpp's server from the xllamacpp
                                       wheel, the embedded GGUF as a thinking model) on 127.0.0.1:8124

A lesson's text describes the answers it replays (lesson 10: thinking did not pay), and
tests/notebook/test_lessons.py and test_notebooks.py check a few of them: after recording, read
the new answers, and update the text and those checks where they changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import nbllm

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK = ROOT / "08_how_text_is_sampled.ipynb"
BUNDLE = ROOT / "08_how_text_is_sampled.nbllm"
PORT = 8080
KEY = "sk-class-server-key"  # the server's key; a bundle never holds it (checked below)
REASONING_NOTEBOOK = ROOT / "10_reasoning_models.ipynb"
REASONING_BUNDLE = ROOT / "10_reasoning_models.nbllm"
REASONING_PORT = 8124  # the lesson's base_url
REASONING_ANSWERS = 17  # one answer, one stream, three questions, a quiz of six twice


def serve() -> subprocess.Popen:
    import llama_cpp_server_py_core

    binary = Path(llama_cpp_server_py_core.__file__).parent / "lib" / "llama-server"
    proc = subprocess.Popen(
        [
            str(binary), "-m", str(nbllm.embedded_model_path()),
            "--host", "127.0.0.1", "--port", str(PORT), "-np", "4", "-c", "8192", "-t", "2",
            "--alias", "smollm2", "--api-key", KEY,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LD_LIBRARY_PATH": str(binary.parent)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2)
            return proc
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None:
                raise SystemExit(f"llama-server exited with {proc.returncode}") from None
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("llama-server did not answer within 120 s")


def serve_reasoning() -> subprocess.Popen:
    """tests/servers/reasoning_server.py on REASONING_PORT; it stops when its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.reasoning_server", "--port", str(REASONING_PORT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT.parent,
        env={**os.environ, "NBLLM_REASONING_MODEL": str(nbllm.embedded_model_path())},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{REASONING_PORT}/health", timeout=2)
            return proc
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None:
                raise SystemExit(f"the reasoning server exited with {proc.returncode}") from None
            time.sleep(0.3)
    proc.stdin.close()
    proc.terminate()
    raise SystemExit("the reasoning server did not answer within 120 s")


def run_recording(notebook: Path, bundle: Path) -> None:
    """The notebook in a real kernel with RECORD = True, importing this tree's nbllm."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "RECORD = False" in cell.source:
            cell.source = cell.source.replace("RECORD = False", "RECORD = True")
    os.environ["NBLLM_CACHE_DIR"] = tempfile.mkdtemp()  # every answer from the server, none from a cache
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT.parent), os.environ.get("PYTHONPATH")]))
    bundle.unlink(missing_ok=True)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()


def record_reasoning() -> None:
    server = serve_reasoning()
    try:
        run_recording(REASONING_NOTEBOOK, REASONING_BUNDLE)
    finally:
        server.stdin.close()  # the server's own way to stop
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.terminate()
            server.wait(10)
    text = REASONING_BUNDLE.read_text()
    secrets = [os.environ.get(name) for name in ("OPENAI_API_KEY", "CLASS_API_KEY")]
    assert not [s for s in secrets if s and s in text], "the bundle holds an API key"
    assert "authorization" not in text.lower(), "the bundle holds a request header"
    entries = json.loads(text)["entries"]
    assert len(entries) == REASONING_ANSWERS, len(entries)
    assert {e["identity"]["base_url"] for e in entries} == {f"http://127.0.0.1:{REASONING_PORT}/v1"}
    print(f"recorded {len(entries)} answers into {REASONING_BUNDLE.relative_to(ROOT.parent)}")


def record() -> None:
    server = serve()
    os.environ["CLASS_API_KEY"] = KEY
    try:
        run_recording(NOTEBOOK, BUNDLE)
    finally:
        server.terminate()
        server.wait(10)
    text = BUNDLE.read_text()
    assert KEY not in text, "the bundle holds the server's key"
    entries = json.loads(text)["entries"]
    assert len(entries) == 15 and all(e["identity"]["backend"] == "openai" for e in entries)
    print(f"recorded {len(entries)} answers into {BUNDLE.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    lesson = sys.argv[1] if len(sys.argv) > 1 else "08"
    if lesson not in ("08", "10"):
        raise SystemExit(f"usage: python tools/record_lesson.py [08|10] (not {lesson!r})")
    sys.exit(record_reasoning() if lesson == "10" else record())

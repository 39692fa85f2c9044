"""Records notebooks/08_how_text_is_sampled.nbllm again: starts the class's model server (llama.cpp's
own llama-server, OpenAI-compatible, with an API key, on 127.0.0.1:8080, serving the embedded
GGUF), runs the notebook in a real kernel with ``RECORD = True`` and checks the bundle it wrote.

    python tools/record_lesson.py      (needs the test extra: llama-cpp-server-py-core)
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


def record() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if "RECORD = False" in cell.source:
            cell.source = cell.source.replace("RECORD = False", "RECORD = True")
    server = serve()
    os.environ["CLASS_API_KEY"] = KEY
    os.environ["NBLLM_CACHE_DIR"] = tempfile.mkdtemp()  # every answer from the server, none from a cache
    try:
        BUNDLE.unlink(missing_ok=True)
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        ).execute()
    finally:
        server.terminate()
        server.wait(10)
    text = BUNDLE.read_text()
    assert KEY not in text, "the bundle holds the server's key"
    entries = json.loads(text)["entries"]
    assert len(entries) == 15 and all(e["identity"]["backend"] == "openai" for e in entries)
    print(f"recorded {len(entries)} answers into {BUNDLE.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    sys.exit(record())

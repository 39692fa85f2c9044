"""Make the notebooks open clean in this environment's JupyterLab (run by postBuild).

JupyterLab writes the running kernel's name and language info into a notebook's metadata when
it opens it, which marks a notebook that says anything else as modified. This records exactly
what this environment's kernel reports, and trusts the notebooks (as ``jupyter trust`` does).

    python binder/prepare_notebooks.py notebooks/
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel
from nbformat.sign import NotebookNotary


def kernel_metadata(name: str = "python3") -> dict:
    spec = KernelSpecManager().get_kernel_spec(name)
    manager, client = start_new_kernel(kernel_name=name)
    try:
        info = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {
        "kernelspec": {"name": name, "display_name": spec.display_name, "language": spec.language},
        "language_info": info,
    }


def prepare(folder: Path) -> None:
    metadata = kernel_metadata()
    notary = NotebookNotary()
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.metadata.update(metadata)
        nbformat.write(nb, path)
        notary.sign(nbformat.read(path, as_version=4))
        print("prepared", path.name)


if __name__ == "__main__":
    prepare(Path(sys.argv[1] if len(sys.argv) > 1 else "notebooks"))

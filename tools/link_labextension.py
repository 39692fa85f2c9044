"""Links nbllm's JupyterLab extension into this Python's share/jupyter/labextensions.

`pip install .` puts the extension there as data files; an editable install (`pip install -e`)
leaves data files out, so tools/test.sh links the checkout's prebuilt copy in their place, as
`jupyter labextension develop .` would.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbllm


def main() -> None:
    package = Path(nbllm.__file__).parent
    for entry in nbllm._jupyter_labextension_paths():
        source = (package / entry["src"]).resolve()
        target = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / entry["dest"]
        if not (source / "package.json").is_file():
            raise SystemExit(f"{source} holds no built extension: run tools/build_labextension.sh")
        if target.is_symlink() or not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.symlink_to(source, target_is_directory=True)
        elif (target / "package.json").read_bytes() != (source / "package.json").read_bytes():
            # a real install (pip install .) is never removed here; say that it is not this build
            print(f"warning: {target} is another build; pip install . to replace it", file=sys.stderr)
        print(f"{entry['dest']}: {target} -> {target.resolve()}")


if __name__ == "__main__":
    main()

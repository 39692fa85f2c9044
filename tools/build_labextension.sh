#!/usr/bin/env bash
# Rebuilds nbllm's JupyterLab extension into labextension/prebuilt/, which is committed so an
# install needs no Node.js. Needs node and npm, and JupyterLab in the active Python.
set -euo pipefail
cd "$(dirname "$0")/../labextension"
npm ci --no-audit --no-fund
core="$(python -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')"
rm -rf prebuilt/static
node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$core" .
cat > prebuilt/install.json <<'JSON'
{
  "packageManager": "python",
  "packageName": "nbllm",
  "uninstallInstructions": "Use your Python package manager (pip, conda, etc.) to uninstall the package nbllm"
}
JSON
# tests/test_labextension.py checks that the build is of the source that is committed
sha256sum src/index.js | cut -d' ' -f1 > prebuilt/source.sha256

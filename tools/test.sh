#!/usr/bin/env bash
# The README's test command: installs everything the tests need, proves the embedded model's server
# runs, then runs pytest (arguments are passed on to it). CI runs it too (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore DEBIAN_FRONTEND=noninteractive

# The browser tests drive Debian's Chromium with Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -q && sudo apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
  else
    echo "tools/test.sh: the browser tests need Chromium; install your system's chromium package" >&2
    exit 1
  fi
fi

# llama-cpp-python (the test servers' engine) is built from source; portable flags, so the
# build also runs on VMs whose CPUs report features the OS does not enable.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
python -m pip install -e ".[test]"
# nbllm and its [lab] extra install from wheels alone on every platform and Python it supports.
python tools/check_wheels.py
# An editable install leaves out data files: link the JupyterLab extension in their place.
python tools/link_labextension.py
# LiteLLM's proxy for the server-matrix tests, in its own venv (created once).
python -m tests.servers.litellm_env
# The embedded model's server starts in its own process and answers before any test relies on it.
python -m nbllm.cli check
python -m pytest "$@"

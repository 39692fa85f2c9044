"""A real browser: JupyterLab on 127.0.0.1, the playground notebook in headless Chromium.

Run all cells, check that the widgets render, move a slider, click Run, see a result appear;
a screenshot is kept in test-artifacts/ as evidence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_process, wait_http

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def jupyterlab(tmp_path: Path):
    workdir = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", workdir)
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
    }
    # Open notebooks with their own kernel at once, without the "Select Kernel" dialog.
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"autoStartDefaultKernel": true}')
    log = open(tmp_path / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={workdir}",
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


def test_playground_in_a_real_browser(jupyterlab: str) -> None:
    import playwright.sync_api as playwright  # part of the test extras; a missing one fails here

    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(120_000)
            page.goto(f"{jupyterlab}/lab/tree/06_playground.ipynb?reset")
            panel = page.locator(".jp-NotebookPanel:visible")
            panel.locator(".jp-Cell").first.wait_for()
            run_all_cells(page)
            playground = panel.locator(".nbllm-playground")
            playground.wait_for(timeout=120_000)
            assert panel.get_by_text("Error displaying widget").count() == 0
            slider = playground.locator(".widget-slider").first
            readout = slider.locator(".widget-readout")
            before = readout.inner_text()
            slider.locator(".noUi-handle").focus()
            for _ in range(4):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([el, old]) => el.innerText !== old", arg=[readout.element_handle(), before]
            )
            after = readout.inner_text()
            assert float(after) > float(before)

            playground.get_by_role("button", name="Run").click()
            table = playground.locator("table.nbllm-results")
            table.wait_for()
            status = playground.get_by_text("done:")
            status.wait_for()
            assert f"temperature={float(after)}" in status.inner_text()
            assert table.locator("tbody tr").count() >= 1
            page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "playground-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def run_all_cells(page) -> None:
    """Once the notebook's kernel is ready and idle, run every cell through JupyterLab's own
    command (a menu click that lands too early does nothing). Should JupyterLab still ask
    which kernel to use, accept its proposal (the notebook's own, Python 3)."""
    page.wait_for_function(
        """() => {
            const dialog = document.querySelector('.jp-Dialog .jp-mod-accept');
            if (dialog) { dialog.click(); return false; }
            const app = window.jupyterapp;
            const panel = app && app.shell.currentWidget;
            const context = panel && panel.sessionContext;
            return !!(context && context.isReady && context.session && context.session.kernel
                      && context.session.kernel.connectionStatus === 'connected'
                      && context.session.kernel.status === 'idle');
        }""",
        polling=250,
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

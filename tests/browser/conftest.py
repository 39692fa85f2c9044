"""JupyterLab on 127.0.0.1 set up as Binder sets it up (binder/postBuild: the notebooks prepared
and trusted, the widget-state setting from binder/overrides.json), and headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, stop_process, wait_http

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


def user_settings(folder: Path, overrides: dict[str, dict[str, Any]]) -> None:
    """JupyterLab settings as the user's own files (one per plugin, 'package:plugin' keys)."""
    for key, values in overrides.items():
        package, plugin = key.split(":")
        path = folder / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    workdir = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", workdir)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),  # the trust database stays private
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
    }
    subprocess.run(
        [sys.executable, str(ROOT / "binder" / "prepare_notebooks.py"), str(workdir)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    # Open notebooks with their own kernel at once, without the "Select Kernel" dialog.
    overrides["@jupyterlab/notebook-extension:tracker"] = {"autoStartDefaultKernel": True}
    user_settings(tmp_path / "settings", overrides)
    port = free_port()
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


@pytest.fixture
def page(jupyterlab: str) -> Iterator[Any]:
    """A Chromium page on JupyterLab; a failing test leaves a screenshot in test-artifacts/."""
    import playwright.sync_api as playwright  # part of the test extras; a missing one fails here

    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(120_000)
            page.lab_url = jupyterlab
            page.console_errors = []  # what the page logged as errors, and its uncaught exceptions
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))
            yield page
        finally:
            browser.close()


def open_notebook(page: Any, name: str) -> Any:
    """Open `name` and wait until its kernel is connected and idle; returns its panel."""
    page.goto(f"{page.lab_url}/lab/tree/{name}?reset")
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-Cell").first.wait_for()
    wait_idle(page)
    return panel


def wait_idle(page: Any) -> None:
    """Wait until the current notebook's kernel is connected and idle. Should JupyterLab still
    ask which kernel to use, accept its proposal (the notebook's own, Python 3)."""
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


def run_all_cells(page: Any) -> None:
    """Run every cell through JupyterLab's own command once the kernel is idle (a menu click
    that lands too early does nothing), and wait until the last cell has run, or a cell has
    failed (Run All stops there): its error is the test's failure."""
    wait_idle(page)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.widgets.filter(c => c.model.type === 'code');
            const last = cells[cells.length - 1];
            const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
            return (failed || (last && last.model.executionCount !== null))
                   && panel.sessionContext.session.kernel.status === 'idle';
        }""",
        polling=250,
        timeout=600_000,  # lesson 04 runs 400 generations: about 4 minutes on two busy cores
    )
    errors = page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets
                 .filter(c => c.model.type === 'code')
                 .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                .map(o => c.model.sharedModel.getSource() + '\\n' + o.ename + ': ' + o.evalue))"""
    )
    assert not errors, "a cell failed:\n" + "\n\n".join(errors)


def run_cell(page: Any, index: int) -> None:
    """Run the notebook's cell `index` (counting every cell) and wait until it has run."""
    wait_idle(page)
    page.evaluate(
        """index => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = index;
            window.jupyterapp.commands.execute('notebook:run-cell');
        }""",
        index,
    )
    page.wait_for_function(
        """index => {
            const panel = window.jupyterapp.shell.currentWidget;
            return panel.content.widgets[index].model.executionCount !== null
                   && panel.sessionContext.session.kernel.status === 'idle';
        }""",
        arg=index,
        polling=250,
        timeout=240_000,
    )


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def execute(page: Any, code: str) -> None:
    """Run `code` in the notebook's kernel (as a hidden request, not a cell) and wait for it."""
    page.evaluate(
        """async code => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            const reply = await kernel.requestExecute({code, silent: false, store_history: false}).done;
            if (reply.content.status !== 'ok') throw new Error(JSON.stringify(reply.content));
        }""",
        code,
    )


# What a student's laptop shows: a 1,400 x 900 window with JupyterLab's file browser open.
LAPTOP = {"width": 1400, "height": 900}

# Parts of the notebook in view that do not fit it: a table wider than its output area (an
# interactive one scrolls by design), a code line longer than its editor.
UNFIT = """() => {
    const panel = window.jupyterapp.shell.currentWidget.node;
    const shown = el => { const r = el.getBoundingClientRect(); return r.height > 0 && r.bottom > 0 && r.top < innerHeight; };
    const found = [];
    for (const t of panel.querySelectorAll('.jp-OutputArea-output table:not(.dataTable)')) {
        const area = t.closest('.jp-OutputArea-output');
        if (t.closest('.dataTables_wrapper, .dt-container') || !shown(t)) continue;
        const over = t.getBoundingClientRect().right - area.getBoundingClientRect().right;
        if (over > 1) found.push(`a table ${Math.round(over)}px too wide: ` + t.innerText.slice(0, 60));
    }
    for (const s of panel.querySelectorAll('.jp-InputArea-editor .cm-scroller')) {
        if (shown(s) && s.scrollWidth > s.clientWidth + 1) found.push('a code line cut: ' + s.innerText.slice(0, 60));
    }
    return found;
}"""


def screenshots(page: Any, name: str) -> list[str]:
    """Page through the open notebook at LAPTOP size, keeping a screenshot of each screen in
    test-artifacts/screenshots/; returns what did not fit (see UNFIT). The page's own size
    comes back afterwards."""
    before = page.viewport_size
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{Path(name).stem}-*.png"):
        old.unlink()
    page.set_viewport_size(LAPTOP)
    unfit: list[str] = []
    try:
        page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
        scroller = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
        page.locator(scroller).first.wait_for()
        page.evaluate("s => { document.querySelector(s).scrollTop = 0; }", scroller)  # from the top
        screen = 0
        while True:
            page.wait_for_timeout(150)  # JupyterLab renders the cells that came into view
            page.screenshot(path=str(folder / f"{Path(name).stem}-{screen + 1:02d}.png"))
            unfit += [f"{name}: {p}" for p in page.evaluate(UNFIT) if f"{name}: {p}" not in unfit]
            at_end = page.evaluate(
                """s => { const el = document.querySelector(s); const top = el.scrollTop;
                          el.scrollTop = top + el.clientHeight * 0.9; return el.scrollTop === top; }""",
                scroller,
            )
            screen += 1
            if at_end or screen >= 60:
                break
    finally:
        page.set_viewport_size(before)
    return unfit

"""A real JupyterLab server and Debian's Chromium driven by Playwright.

Recipe: ../shared/docs/testing-in-jupyterlab.md. The server serves a temporary COPY of the notebooks
(autosave writes outputs into served files), with its own config/runtime dirs, a random token and a
free loopback port; it is shut down through the API and its process group killed afterwards.
Screenshots go to ``tests/e2e/screenshots/`` (git-ignored) so a person can look at them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    def __init__(self, home: Path, root_dir: Path) -> None:
        self.home = home
        self.root_dir = root_dir
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.base}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def start(self) -> None:
        settings = self.home / "settings"
        for rel, data in {
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False},
            "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        }.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), IPYTHONDIR=str(self.home / "ipython"),
                   JUPYTER_PLATFORM_DIRS="1", HOME=str(self.home))
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root_dir}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--LabApp.workspaces_dir={self.home / 'ws'}", f"--LabApp.user_settings_dir={settings}"]
        with open(self.home / "server.log", "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(self.home / 'server.log').read_text()[-2000:]}")
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("jupyter lab did not start within 60 s")

    def delete_sessions(self) -> None:
        try:
            sessions = self.api("/api/sessions")
            for s in sessions if isinstance(sessions, list) else []:
                self.api(f"/api/sessions/{s['id']}", method="DELETE")
        except OSError:
            pass

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.api("/api/shutdown", method="POST")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (.ci/run does this)")
    home = tmp_path_factory.mktemp("jupyter-home")
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", dirs_exist_ok=True)
    server = LabServer(home, root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    # assertions on widget text retry like the waits do: a kernel message may land a frame later
    expect.set_options(timeout=10_000)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.ionpy_errors = errors  # type: ignore[attr-defined]
    SHOTS.mkdir(exist_ok=True)
    try:
        yield pg
    finally:
        context.close()
        lab_server.delete_sessions()
    relevant = [e for e in errors if _relevant(e)]
    assert not relevant, f"browser errors during {request.node.name}: {relevant}"


# bqplot 0.13's Axis view listens to its scale's domain_changed as soon as the scale view exists
# (set_scale_promise) but creates its d3 axis only once the offset scale has resolved too; a live
# chart's domain change landing in between throws from redraw_axisline -> update_scale_domain
# (`this.axis.scale(...)` on an undefined axis). Caught with a stack through Chrome's debugger under
# CPU load, at the chart's first display. The axis is drawn on the next push (0.1 s later), so it is
# only this console line; any other "Error setting state" still fails the test.
BQPLOT_AXIS_RACE = "Error setting state: Cannot read properties of undefined (reading 'scale')"


def _relevant(error: str) -> bool:
    # JupyterLab logs a few expected errors on a closed network (no extension manager, no news, favicon)
    noise = ("favicon", "Failed to load resource", "lab/api/news", "net::ERR", "/api/kernelspecs",
             "Kernel not found")
    if error == f"console.error: {BQPLOT_AXIS_RACE}":
        return False
    return not any(n in error for n in noise)


def open_notebook(page, server: LabServer, notebook: str) -> None:
    page.goto(server.url(notebook))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=60_000)


def run_all(page) -> None:
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


@pytest.fixture(autouse=True)
def _no_leaked_tasks() -> Iterator[None]:
    """Playwright's sync API runs its own loop in this thread; these tests own no asyncio tasks."""
    yield


def write_notebook(path: Path, *sources: str) -> None:
    """A notebook with kernelspec metadata (without it JupyterLab asks which kernel to start)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)

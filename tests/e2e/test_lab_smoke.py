"""Smoke: the bundled widget JS loads inside a real JupyterLab (no CDN) and shows errors in place."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import SHOTS, open_notebook, run_all, write_notebook

pytestmark = pytest.mark.e2e

CELL = """
from ionpy_widgets.widgets.base import IonpyWidget
from ionpy_widgets.errors import PortBusyError

class Smoke(IonpyWidget):
    VIEW = "no-such-view"

w = Smoke()
w
"""


def test_bundle_renders_and_shows_error_inside_widget(page, lab_server):
    write_notebook(lab_server.root_dir / "smoke.ipynb", CELL)
    open_notebook(page, lab_server, "smoke.ipynb")
    run_all(page)
    box = page.locator(".ionpy-root .ionpy-error")
    box.wait_for(timeout=60_000)
    expect(box).to_contain_text("unknown widget view")
    box.screenshot(path=str(SHOTS / "smoke-error-box.png"))

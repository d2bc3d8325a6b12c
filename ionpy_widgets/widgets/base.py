"""The anywidget base every ionpy widget derives from.

* one bundled ES module (``static/ionpy.js``, built from ``js/`` with esbuild; never a CDN) whose
  ``render`` picks the view named by the ``_view_kind`` traitlet;
* requests from the browser go through :class:`~ionpy_widgets.widgets.protocol.RequestRouter`, so
  every request gets exactly one reply, errors included;
* ``error`` holds the last error (code, message, hint) shown inside the widget; the rest of the
  widget keeps working.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .protocol import PROTOCOL_VERSION, RequestRouter, error_dict

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
BUNDLE = STATIC / "ionpy.js"
STYLES = STATIC / "ionpy.css"


def _bundle_text() -> str:
    if not BUNDLE.exists():
        raise RuntimeError(
            f"the widget bundle {BUNDLE} is missing: the package was installed without building js/. "
            "Run `make venv` (or `pip install -e .` with npm available) to build it."
        )
    return BUNDLE.read_text(encoding="utf-8")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class IonpyWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Base class: set ``VIEW`` in subclasses and register request handlers in ``__init__``."""

    VIEW = ""

    _view_kind = traitlets.Unicode("").tag(sync=True)
    _protocol = traitlets.Int(PROTOCOL_VERSION).tag(sync=True)
    error = traitlets.Dict(default_value={}).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        if not getattr(IonpyWidget, "_esm", None):  # read the bundle once, on first use
            IonpyWidget._esm = _bundle_text()
            if STYLES.exists():
                IonpyWidget._css = STYLES.read_text(encoding="utf-8")
        super().__init__(_view_kind=self.VIEW, **kwargs)
        self.router = RequestRouter(self._send_message)
        #: The loop requests are handled on: the one the widget was made on (the kernel's loop,
        #: which the engine runs on). Subclasses that follow a lab set it to the lab's loop.
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()
        self.on_msg(self._on_custom_message)

    # --- messages ---------------------------------------------------------------------------
    def _send_message(self, message: dict[str, Any]) -> None:
        if self.comm is None:  # closed widget
            return
        self.send(message)

    def _on_custom_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Handle a browser request on the home loop. ipykernel 7 may deliver comm messages on a
        subshell thread with an event loop of its own; the engine's locks and queues belong to the
        home loop, so the request is handed over to it (the reply is sent from there)."""
        loop = self._loop
        current = _running_loop()
        if loop is None or current is loop or loop.is_closed():
            self.router.handle(content)
        else:
            loop.call_soon_threadsafe(self.router.handle, content)

    def emit_event(self, kind: str, data: dict[str, Any]) -> None:
        self._send_message({"type": "event", "kind": kind, "data": data})

    # --- errors -----------------------------------------------------------------------------
    def show_error(self, exc: BaseException | dict[str, Any] | None) -> None:
        """Show an error inside this widget (None clears it)."""
        if exc is None:
            self.error = {}
        else:
            self.error = exc if isinstance(exc, dict) else error_dict(exc)

    def close(self) -> None:
        for task in list(self.router._tasks):
            task.cancel()
        super().close()

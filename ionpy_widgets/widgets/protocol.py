"""The widget message protocol, mirrored in ``js/src/protocol.ts``.

State lives in traitlets. Custom messages are for requests and streams only:

* browser → kernel request: ``{"type": "request", "id": str, "kind": str, "payload": {...}, "timeout": ms}``
* kernel → browser reply (always exactly one per request, errors included):
  ``{"type": "reply", "id": str, "ok": true, "result": ...}`` or
  ``{"type": "reply", "id": str, "ok": false, "error": {"code", "message", "hint", ...}}``
* kernel → browser stream item for a running request (probe steps, scan progress):
  ``{"type": "stream", "id": str, "item": {...}}`` — always followed by the final reply.
* kernel → browser event (not tied to a request): ``{"type": "event", "kind": str, "data": {...}}``

A Python exception must never become a silent JavaScript timeout: every handler is wrapped, and a
handler that exceeds the request's timeout is cancelled and answered with ``request_timeout``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import IonpyError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
DEFAULT_TIMEOUT_MS = 15_000
MAX_TIMEOUT_MS = 120_000

Handler = Callable[..., Any]
Send = Callable[[dict[str, Any]], None]


class Stream:
    """Handed to streaming handlers: ``stream.emit(item)`` sends one item before the reply."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self.request_id = request_id
        self.count = 0

    def emit(self, item: Any) -> None:
        self.count += 1
        self._send({"type": "stream", "id": self.request_id, "item": item})


def error_dict(exc: BaseException) -> dict[str, Any]:
    """What a widget shows for an exception: code, message and hint."""
    if isinstance(exc, IonpyError):
        return exc.to_dict()
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return {"type": "TimeoutError", "code": "request_timeout", "message": "the request took too long",
                "hint": "The instrument or the kernel is busy; try again."}
    return {"type": type(exc).__name__, "code": "internal_error", "message": str(exc) or type(exc).__name__,
            "hint": "This is a bug in ionpy_widgets or a driver; the traceback is in the kernel log."}


class RequestRouter:
    """Dispatches request messages to handlers and guarantees one reply per request."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._handlers: dict[str, tuple[Handler, bool]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, kind: str, handler: Handler, *, stream: bool = False) -> None:
        """Register ``handler(**payload)`` (or ``handler(stream, **payload)`` when ``stream``)."""
        self._handlers[kind] = (handler, stream)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def handle(self, message: Any) -> asyncio.Task[None] | None:
        """Handle one incoming custom message; returns the task for async handlers."""
        if not isinstance(message, dict) or message.get("type") != "request":
            return None
        request_id = str(message.get("id", ""))
        kind = message.get("kind")
        payload = message.get("payload") or {}
        timeout_ms = message.get("timeout", DEFAULT_TIMEOUT_MS)
        if not isinstance(timeout_ms, int | float) or timeout_ms <= 0:
            timeout_ms = DEFAULT_TIMEOUT_MS
        timeout = min(float(timeout_ms), MAX_TIMEOUT_MS) / 1000.0
        entry = self._handlers.get(kind) if isinstance(kind, str) else None
        if entry is None:
            self._reply_error(request_id, {"code": "unknown_request", "message": f"unknown request kind {kind!r}",
                                           "hint": f"Known kinds: {', '.join(self.kinds)}."})
            return None
        if not isinstance(payload, dict):
            self._reply_error(request_id, {"code": "bad_request", "message": "payload must be an object",
                                           "hint": ""})
            return None
        handler, streaming = entry
        args = (Stream(self._send, request_id),) if streaming else ()
        try:
            result = handler(*args, **payload)
        except Exception as exc:
            log.debug("widget request %s failed", kind, exc_info=True)
            self._reply_error(request_id, error_dict(exc))
            return None
        if not inspect.isawaitable(result):
            self._reply_ok(request_id, result)
            return None
        task = asyncio.ensure_future(self._finish(request_id, result, timeout))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _finish(self, request_id: str, awaitable: Awaitable[Any], timeout: float) -> None:
        try:
            result = await asyncio.wait_for(awaitable, timeout)
        except asyncio.CancelledError:
            self._reply_error(request_id, {"code": "request_cancelled", "message": "the request was cancelled",
                                           "hint": "The widget was closed or the engine stopped."})
            raise
        except Exception as exc:
            log.debug("widget request failed", exc_info=True)
            self._reply_error(request_id, error_dict(exc))
        else:
            self._reply_ok(request_id, result)

    def _reply_ok(self, request_id: str, result: Any) -> None:
        self._safe_send({"type": "reply", "id": request_id, "ok": True, "result": result})

    def _reply_error(self, request_id: str, error: dict[str, Any]) -> None:
        self._safe_send({"type": "reply", "id": request_id, "ok": False, "error": error})

    def _safe_send(self, message: dict[str, Any]) -> None:
        try:
            self._send(message)
        except Exception:  # a closed comm must not raise into the engine
            log.debug("could not send widget message", exc_info=True)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

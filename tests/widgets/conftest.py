"""Fixtures for the widget tests (helpers live in widget_helpers.py)."""

from __future__ import annotations

from typing import Any

import ipywidgets
import pytest


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Custom messages every widget sends (state updates are dropped); nothing reaches a frontend.
    (test_chart.py has its own ``sent`` that records state updates instead.)"""
    messages: list[dict[str, Any]] = []

    def record(self: ipywidgets.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        if msg.get("method") == "custom":
            messages.append(msg["content"])

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    return messages

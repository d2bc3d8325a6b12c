"""``ionpy_widgets.Lab``: the engine's :class:`~ionpy_widgets.engine.lab.Lab` plus its widgets.

    import ionpy_widgets as ion
    lab = await ion.Lab.start("lab.yaml")
    lab.dashboard()                                   # alarm badge, devices, a control panel each, a chart
    lab.alarms()                                      # the alarm panel: active, history, ack, shelve
    lab.devices_panel()                               # the device manager alone
    lab.control("DPS5005_1")                          # one device's control panel
    lab.chart("DPS5005_1.u_out", "DPS5005_1.i_out", window="5min")

The engine never imports widgets; this subclass lives in the widgets layer and the package's
public ``Lab`` name points here. Every widget follows the lab's bus, so devices added or removed
later (from code or another cell) show up without re-running the cell.
"""

from __future__ import annotations

from typing import Any

import ipywidgets

from ..driver.base import Category
from ..engine import lab as engine_lab
from ..engine.events import Event, SystemEvent
from ..errors import IonpyError
from .alarms import AlarmPanel
from .bridge import WidgetBridge
from .controls import ControlPanel
from .devices import DeviceManagerWidget, EditCallback

try:  # imported here, not on first use: bqplot's import takes about a second and would stall the running lab
    from .chart import LiveChart
except ImportError as exc:  # pragma: no cover - the chart module is part of the package
    LiveChart = None  # type: ignore[assignment,misc]
    _CHART_IMPORT_ERROR: ImportError | None = exc
else:
    _CHART_IMPORT_ERROR = None

#: English texts of the dashboard (one place, ready for translation).
STRINGS = {
    "controls": "Controls",
    "chart": "Live chart",
    "no_devices": "No devices yet: add one with `await lab.add_device({...})` — it appears here by itself.",
    "no_psu": "No power supply to chart yet.",
}

#: Entities charted for each power supply, by driver entity key (first one that exists wins).
PSU_SERIES = (("u_out", "i_out"), ("u_out_1", "i_out_1"))


class Lab(engine_lab.Lab):
    """The engine's lab with widgets; ``lab = await Lab.start(...)`` exactly as the engine's
    (the engine's ``start`` builds the class it is called on)."""

    def devices_panel(self, *, on_edit: EditCallback | None = None) -> DeviceManagerWidget:
        """The device manager: every device with its status; ``on_edit(device_id)`` opens an editor."""
        return DeviceManagerWidget(self, on_edit=on_edit)

    def wizard(self, edit: str | None = None, **kwargs: Any) -> Any:
        """The device wizard: add a device step by step, or ``edit="DPS5005_1"`` an existing one
        (:func:`~ionpy_widgets.widgets.wizard.wizard`; ``prefill=``, ``on_done=``, ``extra_ports=``)."""
        from .wizard import wizard

        return wizard(self, edit, **kwargs)

    def discovery(self, **kwargs: Any) -> Any:
        """The discovery panel; a row opens the wizard prefilled
        (:func:`~ionpy_widgets.widgets.discovery_panel.discovery_panel`; ``on_open=`` to take over)."""
        from .discovery_panel import discovery_panel

        return discovery_panel(self, **kwargs)

    def alarms(self, **kwargs: Any) -> AlarmPanel:
        """The alarm panel: the alarm list and history, acknowledge, shelve, browser notifications
        (:class:`~ionpy_widgets.widgets.alarms.AlarmPanel`; ``compact=True`` for the badge form)."""
        return AlarmPanel(self, **kwargs)

    def control(self, device_id: str) -> ControlPanel:
        """The control panel of one device (readings, setpoints, switches, emergency stop)."""
        return ControlPanel(self, device_id)

    def chart(self, *series: str, window: float | str = "5min", **kwargs: Any) -> Any:
        """A live chart of ``"DEVICE.entity"`` series (:class:`~ionpy_widgets.widgets.chart.LiveChart`)."""
        if LiveChart is None:
            raise IonpyError(f"the live chart is not available: {_CHART_IMPORT_ERROR}",
                             hint="Install the widget extras: pip install 'ionpy_widgets[notebook]' (bqplot).")
        return LiveChart(self, *series, window=window, **kwargs)

    def psu_series(self) -> list[str]:
        """``"DEVICE.u_out"``/``"DEVICE.i_out"`` (or channel 1's) of every power supply."""
        series: list[str] = []
        for device_id, device in self.manager.devices.items():
            if getattr(device.driver_cls, "category", None) != Category.PSU:
                continue
            keys = self[device_id].entities
            for pair in PSU_SERIES:
                if all(k in keys for k in pair):
                    series += [f"{device_id}.{k}" for k in pair]
                    break
        return series

    def dashboard(self, *, on_edit: EditCallback | None = None, window: float | str = "5min") -> Dashboard:
        """Alarm badge (opens the alarm panel) + device manager + a control panel per device (tabs) +
        a chart of every PSU's u_out/i_out."""
        return Dashboard(self, on_edit=on_edit, window=window)


class Dashboard(ipywidgets.VBox):  # type: ignore[misc]
    """The whole bench in one cell; tabs and chart follow devices added and removed later.

    The device list's Edit button opens the device wizard under the list (``on_edit`` replaces
    it: called with the device id; a widget it returns is shown there instead).
    """

    def __init__(self, lab: Lab, *, on_edit: EditCallback | None = None, window: float | str = "5min") -> None:
        self.lab = lab
        self.window = window
        self._open_editor: EditCallback = on_edit or (lambda device_id: lab.wizard(edit=device_id))
        #: The alarm badge with the number of active alarms; a click (or a new alarm) opens the panel.
        self.alarms_panel = AlarmPanel(lab, compact=True)
        self.devices_panel = DeviceManagerWidget(lab, on_edit=self._edit)
        self.editor = ipywidgets.VBox()
        self.tabs = ipywidgets.Tab()
        self.panels: dict[str, ControlPanel] = {}
        self.chart: Any = None
        self._chart_series: list[str] = []
        self.chart_box = ipywidgets.VBox()
        self.note = ipywidgets.HTML()
        super().__init__(children=[self.alarms_panel, self.devices_panel, self.editor, self.note, self.tabs,
                                   self.chart_box],
                         layout=ipywidgets.Layout(width="100%"))
        self.add_class("ionpy-dashboard")
        self.bridge = WidgetBridge(lab, rate_hz=4.0, kinds=("device_added", "device_removed", "device_updated"),
                                   name="dashboard")
        self.bridge.on_event(self._on_event)
        self.bridge.add_flush(lambda _changed: self.sync(), widgets=[self, self.tabs])
        self.sync()
        if lab.running:
            self.bridge.start()

    def _edit(self, device_id: str) -> Any:
        result = self._open_editor(device_id)
        if isinstance(result, ipywidgets.Widget):
            for old in self.editor.children:  # one editor at a time
                if old is not result:
                    old.close()
            self.editor.children = (result,)
        return result

    @staticmethod
    def _on_event(event: Event) -> str | None:
        return "devices" if isinstance(event, SystemEvent) else None

    def sync(self) -> None:
        """Make the tabs and the chart match the lab's devices (called on device added/removed)."""
        ids = [i for i in self.lab.devices if i in self.lab]
        for gone in [i for i in self.panels if i not in ids]:
            self.panels.pop(gone).close()
        for device_id in ids:
            if device_id not in self.panels:
                self.panels[device_id] = ControlPanel(self.lab, device_id)
        children = tuple(self.panels[i] for i in ids)
        if self.tabs.children != children:
            self.tabs.children = children
            self.tabs.titles = tuple(ids)
        self.note.value = f"<i>{STRINGS['no_devices']}</i>" if not ids else ""
        self._sync_chart()

    def _sync_chart(self) -> None:
        series = self.lab.psu_series() if self.lab.running else self._chart_series
        if series == self._chart_series and (self.chart is not None or not series):
            return
        if self.chart is not None:
            self.chart.close()
            self.chart = None
        self._chart_series = series
        if series:
            self.chart = self.lab.chart(*series, window=self.window, title=STRINGS["chart"])
            self.chart_box.children = (self.chart,)
        else:
            self.chart_box.children = ()

    def close(self) -> None:
        """Stop following the lab and close every child widget."""
        self.bridge.close()
        for panel in self.panels.values():
            panel.close()
        self.panels.clear()
        if self.chart is not None:
            self.chart.close()
        for widget in (*self.editor.children, self.alarms_panel, self.devices_panel, self.editor, self.tabs,
                       self.chart_box, self.note):
            widget.close()
        super().close()

    def __repr__(self) -> str:
        return f"<Dashboard {len(self.panels)} device(s)>"


__all__ = ["STRINGS", "Dashboard", "Lab"]

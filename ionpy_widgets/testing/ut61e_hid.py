"""A simulated UNI-T UT61E+ behind a simulated CP2110 cable, at the hidapi API boundary.

There is no HID hardware on the machines the tests and demos run on, and no ``/dev/uhid`` to
create a kernel-level virtual HID device, so the meter is plugged in one level up: a
:class:`~ionpy_widgets.testing.hid_backend.FakeHidBackend` (the ``hid`` module's API) holds a
:class:`~ionpy_widgets.testing.hid_backend.FakeCp2110` whose UART is wired to a
:class:`~ionpy_widgets.instruments.uni_t_ut61e.sim.Ut61ePlusSimulator`. Everything above hidapi is
the real code: :class:`~ionpy_widgets.transport.hid_uart.HidUartTransport` (feature reports,
report packing), the length-prefixed framer, the link and the ``UT61E_PLUS`` driver.

Usage::

    meter = SimulatedUt61eHid()
    driver = meter.driver()
    await driver.connect()
    print(await driver.poll())
    meter.sim.set_input(12.0)        # change what the meter measures
    meter.unplug(); meter.replug()   # pull and re-insert the cable

For a :class:`~ionpy_widgets.engine.lab.Lab` built from config (``transport: {type: hid, params:
{vendor_id: 0x10C4, product_id: 0xEA80, uart: auto}}``), make hidapi resolve to the simulated
backend, e.g. in a test ``monkeypatch.setattr(ionpy_widgets.transport.hid, "_import_hid",
lambda: meter.backend)``.
"""

from __future__ import annotations

from typing import Any

from ..driver.stack import DeviceStack, build_stack
from ..instruments.uni_t_ut61e.sim import Ut61ePlusSimulator
from ..transport.address import HidParams
from ..transport.hid_uart import HidUartTransport
from .hid_backend import CP2110_PID, CP2110_VID, FakeCp2110, FakeHidBackend

PARAMS = {"vendor_id": CP2110_VID, "product_id": CP2110_PID, "uart": "auto"}


def meter_bridge(sim: Ut61ePlusSimulator, **bridge_options: Any) -> FakeCp2110:
    """A simulated CP2110 whose UART is connected to ``sim`` (one fresh meter-side session)."""
    session = sim.session()

    def responder(data: bytes) -> bytes:
        return b"".join(session.feed(data, sim.clock()))

    return FakeCp2110(responder=responder, **bridge_options)


class SimulatedUt61eHid:
    """One simulated meter on its UT-D09 cable, with the hidapi backend that finds it."""

    def __init__(self, sim: Ut61ePlusSimulator | None = None, *, serial: str = "0001A2B3") -> None:
        self.sim = sim if sim is not None else Ut61ePlusSimulator()
        self.serial = serial
        self.bridge = meter_bridge(self.sim, serial=serial)
        self.backend = FakeHidBackend(self.bridge)

    def params(self, **overrides: Any) -> HidParams:
        """Transport params for this cable (``read_timeout_ms`` short, so closing is quick)."""
        return HidParams(**{**PARAMS, "read_timeout_ms": 20, **overrides})

    def transport(self, **overrides: Any) -> HidUartTransport:
        """An unopened real HID-UART transport on the simulated backend."""
        return HidUartTransport(self.params(**overrides), backend=self.backend)

    def stack(self, *, link_options: dict[str, Any] | None = None, **overrides: Any) -> DeviceStack:
        """The real ``UT61E_PLUS`` stack (driver blueprint, framer, link) with the transport on this backend."""
        stack = build_stack("UT61E_PLUS", transport={"type": "hid", "params": {**PARAMS, **overrides}},
                            link_options=link_options)
        assert stack.link is not None
        stack.transport = stack.link.transport = self.transport(**overrides)
        return stack

    def driver(self, **link_options: Any) -> Any:
        """A ready-to-connect ``UT61E_PLUS`` driver (see :meth:`stack`)."""
        return self.stack(link_options=link_options or None).driver

    def unplug(self) -> None:
        """Pull the cable: open handles fail, enumerate no longer lists the meter."""
        self.bridge.unplug()

    def replug(self) -> None:
        """Plug a cable in again: a fresh CP2110 (UART disabled, as after power-up) on the same meter."""
        self.bridge = meter_bridge(self.sim, serial=self.serial)
        self.backend.bridges = [self.bridge]


__all__ = ["PARAMS", "SimulatedUt61eHid", "meter_bridge"]

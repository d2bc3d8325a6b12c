"""Mistakes a lab engineer makes with history and a stopped lab, on a real lab (a DPS5005 simulator
on a real pty, a V01_Battery) recording into real SQLite: a mistyped device or entity in
``lab.history`` / ``run.history`` is an error naming what the recording holds (not an empty
frame that looks like "no data"); a series the lab has but has not committed yet is still an
empty frame; after ``lab.stop()`` the history error points at the file, and a write names no
reconnect that will never come."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from engine_helpers import wait_until

import ionpy_widgets as ion
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.engine.settings import EngineSettings
from ionpy_widgets.engine.storage import HistoryError, NotRecordingError
from ionpy_widgets.errors import DeviceUnavailableError
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer

FAST = EngineSettings(backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.0, connect_timeout=1.0,
                      poll_timeout=1.0, close_timeout=0.3)


@pytest.fixture
async def pty() -> AsyncIterator[PtyServer]:
    server = await PtyServer(DpsSimulator()).start()
    try:
        yield server
    finally:
        await server.close()


def _conf(port: str) -> dict[str, object]:
    return {"devices": [
        {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05},
        {"id": "DPS", "driver": "DPS5005", "poll_interval": 0.05,
         "transport": {"type": "serial", "params": {"port": port, "baudrate": 9600}},
         "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}},
    ]}


async def test_a_mistyped_device_or_entity_is_an_error_naming_what_is_recorded(pty: PtyServer, tmp_path: Path) -> None:
    lab = await Lab.start(_conf(pty.path), name="history-mistakes", settings=FAST, record=tmp_path / "h.sqlite")
    try:
        await lab.wait_online(timeout=3)
        await lab.history_async("DPS", "u_out")  # commits what is queued, the entity table included
        with pytest.raises(HistoryError) as err:
            lab.history("DPS", "u_ot")
        assert "no entity 'u_ot' of device 'DPS'" in err.value.message and "u_out" in err.value.hint
        with pytest.raises(HistoryError) as err:
            await lab.history_async("DSP", "u_out", buckets=10)
        assert "no device 'DSP'" in err.value.message and err.value.hint == "Recorded devices: BAT, DPS."
        # a known series with nothing in the span is still an empty frame, not an error
        assert len(lab.history("DPS", "u_out", start=0, end=1)) == 0
        async with lab.run("sweep") as run:
            await lab["DPS"].write("u_set", 1.5)
            await wait_until(lambda: lab["DPS"].values.get("u_set") == 1.5, 2, "u_set polled back")
    finally:
        await lab.stop()
    assert len(run.history("DPS", "u_set")) > 0
    with pytest.raises(HistoryError, match="no entity 'u_sett'"):
        run.history("DPS", "u_sett")
    with ion.open_run(tmp_path / "h.sqlite") as reopened, pytest.raises(HistoryError, match="no device 'NOPE'"):
        reopened.history("NOPE", "u_out", buckets=5)


async def test_a_series_the_lab_has_but_has_not_committed_is_an_empty_frame(pty: PtyServer, tmp_path: Path) -> None:
    lab = await Lab.start(_conf(pty.path), name="history-mistakes", settings=FAST, record=tmp_path / "h.sqlite")
    try:
        # straight after start nothing is committed yet; the lab's own entities still answer
        assert list(lab.history("DPS", "u_out").columns) == ["timestamp", "value", "unit", "quality"]
        assert len(lab.history("BAT", "voltage", buckets=4)) == 0
    finally:
        await lab.stop()


async def test_after_stop_history_points_at_the_file_and_a_write_promises_no_reconnect(
        pty: PtyServer, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    lab = await Lab.start(_conf(pty.path), name="history-mistakes", settings=FAST, record=path)
    await lab.wait_online(timeout=3)
    await wait_until(lambda: "u_out" in lab["DPS"].values, 2, "a first poll")
    await lab.stop()
    await lab.stop()  # idempotent
    with pytest.raises(NotRecordingError) as err:
        lab.history("DPS", "u_out")
    assert str(path) in err.value.message and "open_run" in err.value.hint
    requests = pty.sim.requests
    with pytest.raises(DeviceUnavailableError) as unavailable:
        await lab["DPS"].write("u_set", 1.0)
    assert "reconnect" not in unavailable.value.hint and "newest `lab = await Lab.start" in unavailable.value.hint
    assert pty.sim.requests == requests  # no byte sent
    with ion.open_run(path) as run:
        assert len(run.history("DPS", "u_out")) > 0


async def test_a_lab_that_never_recorded_keeps_the_record_hint() -> None:
    lab = await Lab.start({"devices": []}, name="history-mistakes", settings=FAST)
    await lab.stop()
    with pytest.raises(NotRecordingError) as err:
        lab.history("DPS", "u_out")
    assert "record=" in err.value.hint


async def test_a_handle_from_a_replaced_lab_and_a_stopped_device_say_what_to_do(pty: PtyServer, tmp_path: Path) -> None:
    config = tmp_path / "lab.yaml"
    config.write_text(f"devices:\n  - id: DPS\n    driver: DPS5005\n    poll_interval: 0.05\n"
                      f"    transport: {{type: serial, params: {{port: {pty.path}}}}}\n")
    old = await Lab.start(config, settings=FAST)
    handle = old["DPS"]
    lab = await Lab.start(config, settings=FAST)  # the setup cell run again: the old lab stops
    try:
        assert not old.running
        with pytest.raises(DeviceUnavailableError) as err:
            await handle.write("u_set", 1.0)
        assert "lab is stopped" in err.value.message and "Lab.start" in err.value.hint
        await lab.wait_online(timeout=3)
        await lab.stop_device("DPS")  # stopped in a running lab: start_device brings it back
        with pytest.raises(DeviceUnavailableError) as err:
            await lab["DPS"].write("u_set", 1.0)
        assert err.value.hint == "Nothing polls DPS now: `await lab.start_device('DPS')` starts it again."
        await lab.start_device("DPS")
        await lab.wait_online(timeout=3)
        assert await lab["DPS"].write("u_set", 1.0) == 1.0
    finally:
        await lab.stop()

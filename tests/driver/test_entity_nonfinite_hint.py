"""A NaN or infinite setpoint (a sweep computed from a bad division, say) is refused with a hint
naming the range and unit, like every other refused value; written from code to a DPS5005 on a real
pty, no byte is sent."""

from __future__ import annotations

import pytest

from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import LimitError
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer


async def test_nan_and_inf_writes_are_refused_with_a_hint_and_no_byte() -> None:
    async with PtyServer(DpsSimulator()) as pty:
        conf = {"devices": [{"id": "DPS", "driver": "DPS5005", "poll_interval": 5,
                             "transport": {"type": "serial", "params": {"port": pty.path}}}]}
        lab = await Lab.start(conf, name="nonfinite-hint")
        try:
            await lab.wait_online(timeout=3)
            await lab["DPS"].poll_now(timeout=3)  # a poll now; the next scheduled one is 5 s away
            requests = pty.sim.requests
            for bad in (float("nan"), float("inf"), -float("inf")):
                with pytest.raises(LimitError) as err:
                    await lab["DPS"].write("u_set", bad)
                assert err.value.code == "value_out_of_limits"
                assert "finite number between 0 and 50 in V" in err.value.hint
            assert pty.sim.requests == requests
        finally:
            await lab.stop()

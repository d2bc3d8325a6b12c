"""What ``ionpy run`` tells a person at the terminal when something is wrong, in a real subprocess:

* a port that does not exist: the unavailable line carries the error's hint (the ports that exist),
  not only the reason;
* the cable pulled and plugged back (a DPS5005 simulator on a real pty behind a stable symlink,
  closed and served again): one unavailable line, then "available again after N s";
* a config without devices: a warning with a hint instead of a silent run (JSON on stderr with --json)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer

ENGINE = "engine: {backoff_initial: 0.05, backoff_max: 0.2, backoff_jitter: 0, connect_timeout: 1, poll_timeout: 0.5}\n"


async def _spawn(config: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ionpy_widgets", "run", str(config), *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def _line_with(stream: asyncio.StreamReader, text: str, lines: list[str], start: int = 0,
                     timeout: float = 5.0) -> int:
    """Index of the first line from ``start`` on that contains ``text``, reading more as needed."""
    deadline = time.monotonic() + timeout
    index = start
    while True:
        while index < len(lines):
            if text in lines[index]:
                return index
            index += 1
        raw = await asyncio.wait_for(stream.readline(), max(0.01, deadline - time.monotonic()))
        assert raw, f"stderr ended without {text!r}: {lines}"
        lines.append(raw.decode())


async def test_unavailable_lines_carry_the_hint_and_a_recovery_says_how_long(tmp_path: Path) -> None:
    link = tmp_path / "dps"
    config = tmp_path / "bench.yaml"
    config.write_text(ENGINE + f"""devices:
  - id: DPS
    driver: DPS5005
    poll_interval: 0.05
    transport: {{type: serial, params: {{port: {link}, baudrate: 9600}}}}
  - id: GONE
    driver: DPS5005
    transport: {{type: serial, params: {{port: {tmp_path / 'ttyUSB9'}, baudrate: 9600}}}}
""")
    server = await PtyServer(DpsSimulator(), link_path=link).start()
    proc = await _spawn(config, "--duration", "20")
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        gone = lines[await _line_with(proc.stderr, "GONE is unavailable", lines)]
        assert "does not exist (hint: " in gone
        up = await _line_with(proc.stderr, "DPS is available", lines)
        await server.close()  # pull the cable
        pulled = await _line_with(proc.stderr, "DPS is unavailable", lines, up)
        assert "(hint: " in lines[pulled]
        server = await PtyServer(DpsSimulator(), link_path=link).start()  # plug it back
        back = lines[await _line_with(proc.stderr, "DPS is available", lines, pulled)]
        assert " again after " in back and back.rstrip().endswith(" s")
        assert sum("DPS is unavailable" in line for line in lines) == 1
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        await server.close()


async def test_a_config_without_devices_warns_with_a_hint(tmp_path: Path) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text("devices: []\n")
    for args, check in ((("--duration", "0.2"), lambda err: "has no devices" in err and "hint: " in err),
                        (("--duration", "0.2", "--json"),
                         lambda err: json.loads(err.splitlines()[0])["warning"]["code"] == "no_devices")):
        proc = await _spawn(config, *args)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0
        assert check(err.decode()), err.decode()

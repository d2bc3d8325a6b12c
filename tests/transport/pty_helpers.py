"""A raw pseudo-terminal pair for serial tests: ``master`` is the far end of the cable, ``path`` the
slave device the transport under test opens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty


class Pty:
    """``keep_slave=False`` closes the test's own slave descriptor at once, so a hang-up of the
    master is seen by the transport alone."""

    def __init__(self, *, keep_slave: bool = True) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if not keep_slave:
            os.close(self.slave)
            self.slave = -1

    async def read(self, count: int, timeout: float = 5.0) -> bytes:
        """Read exactly ``count`` bytes from the master without blocking the loop."""
        loop = asyncio.get_running_loop()
        data = bytearray()
        ready = asyncio.Event()
        loop.add_reader(self.master, ready.set)
        try:
            async with asyncio.timeout(timeout):
                while len(data) < count:
                    await ready.wait()
                    ready.clear()
                    with contextlib.suppress(BlockingIOError):
                        data += os.read(self.master, count - len(data))
        finally:
            loop.remove_reader(self.master)
        return bytes(data)

    def hang_up(self) -> None:
        """Pull the cable: close the master (and our slave fd), the transport sees EIO/hang-up."""
        for name in ("master", "slave"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

"""What-if clients for ``bench_modbus_poll.py --what-if``: numbers for changes not (yet) made.

A what-if client measures a change to the package before it is made, by reaching into private
details of the stack; nothing in the package uses them. There is none at the moment: the last one,
``ionpy+osread`` (received bytes read with one ``os.read`` instead of pyserial's ``Serial.read``),
was adopted by the serial transport (docs/decisions/0006-direct-fd-serial-io.md), so ``ionpy``
itself now measures it.
"""

from __future__ import annotations

from typing import Any


def available() -> dict[str, Any]:
    """The what-if clients whose private hooks exist in the installed versions (name -> class)."""
    return {}

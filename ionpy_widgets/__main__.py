"""``python -m ionpy_widgets`` runs the ``ionpy`` command line (see :mod:`ionpy_widgets.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

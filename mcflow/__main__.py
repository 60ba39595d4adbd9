"""``python -m mcflow``: the same command line as the ``mcflow`` script."""

from __future__ import annotations

import sys

from mcflow.cli import main

if __name__ == "__main__":
    sys.exit(main())

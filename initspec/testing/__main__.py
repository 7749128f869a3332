"""``python -m initspec.testing``: run the conformance suite and print the report."""

from __future__ import annotations

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())

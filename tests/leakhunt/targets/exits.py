"""A script named as a target: it runs its command line at import and exits.

leakhunt must say so in one line instead of exiting with it.
"""

from __future__ import annotations

import sys


def run(ctx: object) -> None:
    """Never reached."""


sys.exit(3)

"""A leaky controller whose process dies in the second traced cycle.

Screening runs untraced and sees a plain leak; the attribution pass runs
under tracemalloc, and there the controller kills its own process, as an
out-of-memory kill or a crash in a C extension would. leakhunt must keep
the screening's verdict and say what happened to the attribution.
"""

from __future__ import annotations

import os
import tracemalloc
from typing import Any

_KEPT: list[bytes] = []
"""The leak: a mebibyte per start, never let go."""

_TRACED_STARTS: list[int] = []


class CrashWhenTraced:
    """Keeps a mebibyte per start; exits the process on its second traced start."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def start(self) -> None:
        """Leak, and die if this is the second start under tracing."""
        # NB: written bytes, so that the pages count in RSS at once.
        _KEPT.append(b"x" * (1024 * 1024))
        if tracemalloc.is_tracing():
            _TRACED_STARTS.append(1)
            if len(_TRACED_STARTS) == 2:
                os._exit(137)

    def wait_for_sync(self, timeout: float) -> bool:
        """Nothing to sync: there is no informer."""
        return True

    def stop(self) -> None:
        """Nothing to stop."""


def controller(ctx: Any) -> CrashWhenTraced:
    """The entry point."""
    return CrashWhenTraced(ctx)

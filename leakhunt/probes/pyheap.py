"""Python heap probe: allocated blocks, and tracemalloc's traced memory if asked."""

from __future__ import annotations

import logging
import sys
import tracemalloc

logger = logging.getLogger(__name__)

DEFAULT_TRACEMALLOC_FRAMES = 1
"""Frames tracemalloc stores per allocation: one costs ~2.4x, 25 cost ~9x."""


class HeapProbe:
    """A probe of the Python allocator: blocks always, traced bytes when asked.

    ``allocated_blocks`` is ``sys.getallocatedblocks()``: free to read, exact,
    and it counts containers the garbage collector does not track (a leaked
    ``bytes`` object is one block). With ``tracemalloc=True`` the probe also
    reports ``traced_bytes`` (Python memory currently traced) and
    ``traced_peak_bytes`` (the peak during the cycle). It starts tracemalloc
    only if nobody else has, and stops only what it started.
    """

    name = "pyheap"

    def __init__(
        self, *, tracemalloc: bool = False, frames: int = DEFAULT_TRACEMALLOC_FRAMES
    ) -> None:
        """Create the probe; ``tracemalloc`` opts into traced-memory signals."""
        self.tracemalloc = tracemalloc
        self.frames = frames
        self._started_tracing = False

    def start(self) -> None:
        """Start tracemalloc if asked for and not already tracing."""
        if self.tracemalloc and not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
            self._started_tracing = True
            logger.debug("Started tracemalloc with %d frame(s).", self.frames)
        self.rearm()

    def sample(self) -> dict[str, float]:
        """Read allocated blocks and, when tracing, traced and peak bytes."""
        values = {"allocated_blocks": float(sys.getallocatedblocks())}
        if self.tracemalloc and tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            values["traced_bytes"] = float(current)
            values["traced_peak_bytes"] = float(peak)
        return values

    def rearm(self) -> None:
        """Reset the traced peak so the next reading covers only the next cycle."""
        if self.tracemalloc and tracemalloc.is_tracing():
            tracemalloc.reset_peak()

    def details(self) -> dict[str, object]:
        """Report whether tracemalloc is on and with how many frames."""
        return {
            "tracemalloc": tracemalloc.is_tracing(),
            "tracemalloc_frames": tracemalloc.get_traceback_limit()
            if tracemalloc.is_tracing()
            else 0,
        }

    def stop(self) -> None:
        """Stop tracemalloc if this probe started it."""
        if self._started_tracing:
            tracemalloc.stop()
            self._started_tracing = False

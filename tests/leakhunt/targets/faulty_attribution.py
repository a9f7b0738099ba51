"""A leaky controller that breaks the attribution pass in the way it is told.

Loaded in the attribution worker, it keeps a ticket of 64 KiB per start (a
leak every probe sees: memory, a growing type, a module-level holder) and,
as ``LEAKHUNT_TEST_FAULT`` says, makes one part of the pass go wrong the
way it would in the field:

- ``no-memray``: memray cannot be imported, as on a platform without it;
- ``garbled-memray``: the worker's memray evidence has a cycle count that
  is not a number, as a worker from another leakhunt version might send;
- ``slow-details``: the worker never answers the request for its evidence
  (the chain search stuck on a huge heap);
- ``interrupt``: the user presses Ctrl-C in the conductor during the third
  traced cycle.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import tracemalloc
from typing import Any

from leakhunt.probes.memray_capture import MemrayProbe
from leakhunt.probes.retention import RetentionProbe

FAULT = os.environ.get("LEAKHUNT_TEST_FAULT", "")

INTERRUPT_AT_TRACED_START = 3
"""The traced start during which the conductor gets its Ctrl-C."""

STUCK_SECONDS = 3600.0
"""Longer than any deadline the conductor gives the worker's evidence."""


class Ticket:
    """What the controller keeps per start."""

    def __init__(self) -> None:
        self.payload = bytes(64 * 1024)


_TICKETS: list[Ticket] = []
"""The leak: a ticket per start, never let go."""

_TRACED_STARTS: list[int] = []


class Faulty:
    """Keeps a ticket per start; interrupts the conductor if told to."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def start(self) -> None:
        """Leak a ticket."""
        _TICKETS.append(Ticket())
        if tracemalloc.is_tracing():
            _TRACED_STARTS.append(1)
            if (
                FAULT == "interrupt"
                and len(_TRACED_STARTS) == INTERRUPT_AT_TRACED_START
            ):
                os.kill(os.getppid(), signal.SIGINT)

    def wait_for_sync(self, timeout: float) -> bool:
        """Nothing to sync: there is no informer."""
        return True

    def stop(self) -> None:
        """Nothing to stop."""


def controller(ctx: Any) -> Faulty:
    """The entry point."""
    return Faulty(ctx)


def _garble_memray_evidence() -> None:
    original = MemrayProbe.details

    def garbled(self: MemrayProbe) -> dict[str, object]:
        details = original(self)
        memray = details["memray"]
        assert isinstance(memray, dict)
        memray["cycles"] = "eight"
        return details

    MemrayProbe.details = garbled  # type: ignore[method-assign]  # the fault


def _never_send_the_evidence() -> None:
    def stuck(self: RetentionProbe) -> dict[str, object]:
        time.sleep(STUCK_SECONDS)
        return {}

    RetentionProbe.details = stuck  # type: ignore[method-assign]  # the fault


if FAULT == "no-memray":
    sys.modules["memray"] = None  # type: ignore[assignment]  # import fails
elif FAULT == "garbled-memray":
    _garble_memray_evidence()
elif FAULT == "slow-details":
    _never_send_the_evidence()

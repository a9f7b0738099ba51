"""The signal registry: how each named per-cycle series is judged."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from leakhunt.report.model import (
    BLOCKING_HANDLER,
    FD_LEAK,
    MEMORY_GROWTH,
    OBJECT_GROWTH,
    SOCKET_LEAK,
    STOP_TIMEOUT,
    TASK_LEAK,
    THREAD_LEAK,
    WATCH_LEAK,
)

logger = logging.getLogger(__name__)

BYTES = "bytes"
COUNT = "count"
BLOCKS = "blocks"
SECONDS = "seconds"
SHARE = "share"


@dataclass(frozen=True)
class SignalSpec:
    """How one signal (or every signal under a prefix) is judged.

    ``name`` is an exact signal name, or a prefix ending in ``.`` that covers
    a family such as ``objects.<type>``. ``integer`` marks exact counts whose
    every delta means something (threads, fds, objects): those are also judged
    on exact deltas, so a thread per cycle is a leak after a handful of
    cycles. ``min_growth`` is the growth per cycle, in ``unit``, that the
    lower bound of the slope's confidence interval must exceed before growth
    is called a leak. ``judged=False`` keeps a series in the report as
    context without ever turning it into a finding.
    """

    name: str
    kind: str
    unit: str
    integer: bool
    min_growth: float
    description: str
    judged: bool = True

    @property
    def is_prefix(self) -> bool:
        """Whether this entry covers a family of signals rather than one name."""
        return self.name.endswith(".")


def _unjudged(name: str, kind: str, unit: str, description: str) -> SignalSpec:
    """Return the entry of a signal kept in reports as context, never judged."""
    return SignalSpec(name, kind, unit, unit == COUNT, 0.0, description, judged=False)


BUILTIN_SIGNALS: tuple[SignalSpec, ...] = (
    # RSS moves in 4 KiB pages. Clean code whose transient buffers vary in
    # size raises its high-water mark in steps of 4-128 KiB at ever rarer
    # cycles, which 30 cycles fit as up to ~3 KiB per cycle
    # (benchmarks/detection.py); a page per cycle, sustained, is above that.
    SignalSpec("rss_bytes", MEMORY_GROWTH, BYTES, False, 4096, "resident memory"),
    # Pages count as unique only while no other process maps them, so USS
    # jumps by megabytes when a process sharing this one's libraries starts
    # or exits (seen: +-8 MiB between cycles on a shared machine): context.
    _unjudged("uss_bytes", MEMORY_GROWTH, BYTES, "unique memory"),
    # Traced memory wobbles by ~500 B and steps by 2-3 KB when stdlib caches
    # fill; 256 B per cycle, sustained, is above both.
    SignalSpec("traced_bytes", MEMORY_GROWTH, BYTES, False, 256, "traced memory"),
    # The peak repeats the cycle's transient work: context, not a verdict.
    _unjudged("traced_peak_bytes", MEMORY_GROWTH, BYTES, "peak traced memory"),
    # Blocks are exact, but free lists and caches move them by a few per
    # cycle, so only a sustained trend counts, not every delta.
    SignalSpec("allocated_blocks", MEMORY_GROWTH, BLOCKS, False, 0.5, "heap blocks"),
    SignalSpec("gc_objects", OBJECT_GROWTH, COUNT, True, 0.5, "GC-tracked objects"),
    SignalSpec("objects.", OBJECT_GROWTH, COUNT, True, 0.5, "live objects of a type"),
    SignalSpec("threads", THREAD_LEAK, COUNT, True, 0.5, "live Python threads"),
    SignalSpec("fds", FD_LEAK, COUNT, True, 0.5, "open file descriptors"),
    SignalSpec("sockets", SOCKET_LEAK, COUNT, True, 0.5, "open sockets"),
    # A connection to the API server that outlives the stop is a watch or a
    # client that was never closed; a correct controller leaves none.
    SignalSpec("api_connections", SOCKET_LEAK, COUNT, True, 0.5, "API connections"),
    # The soak judges these exactly, per cycle, rather than as trends: one
    # hung stop, pending task, open watch or blocked handler is already a
    # finding (see leakhunt.analysis.lifecycle and leakhunt.analysis.server).
    _unjudged("stop_seconds", STOP_TIMEOUT, SECONDS, "stop duration"),
    _unjudged("tasks_pending", TASK_LEAK, COUNT, "pending asyncio tasks"),
    _unjudged(
        "watch_handling_share", BLOCKING_HANDLER, SHARE, "watch time in handlers"
    ),
    _unjudged("server_watches_open", WATCH_LEAK, COUNT, "watches left open"),
    # On a real cluster the registered watchers count every client, not only
    # the controller's; their trend is the signal there.
    SignalSpec(
        "server_watchers_registered",
        WATCH_LEAK,
        COUNT,
        True,
        0.5,
        "registered watchers",
    ),
)
"""Signals the built-in probes report. Add a signal with one entry here."""


class SignalRegistry:
    """A lookup from signal names to how they are judged.

    Exact names win over prefixes, and a longer prefix over a shorter one.
    Start from :func:`default_signals` and :meth:`register` more for probes
    of your own.
    """

    def __init__(self, specs: Iterable[SignalSpec] = ()) -> None:
        """Create a registry holding ``specs``."""
        self._exact: dict[str, SignalSpec] = {}
        self._prefixes: list[SignalSpec] = []
        for spec in specs:
            self.register(spec)

    def register(self, spec: SignalSpec) -> None:
        """Add or replace the entry for ``spec.name``."""
        if spec.is_prefix:
            self._prefixes = [p for p in self._prefixes if p.name != spec.name]
            self._prefixes.append(spec)
            self._prefixes.sort(key=lambda p: len(p.name), reverse=True)
        else:
            self._exact[spec.name] = spec

    def lookup(self, signal: str) -> SignalSpec | None:
        """Return how ``signal`` is judged, or None for a signal nobody registered."""
        spec = self._exact.get(signal)
        if spec is not None:
            return spec
        for prefix in self._prefixes:
            if signal.startswith(prefix.name):
                return prefix
        return None

    def __iter__(self) -> Iterator[SignalSpec]:
        """Iterate over every entry, exact names first."""
        yield from self._exact.values()
        yield from self._prefixes


def default_signals() -> SignalRegistry:
    """Return a fresh registry of the built-in signals."""
    return SignalRegistry(BUILTIN_SIGNALS)

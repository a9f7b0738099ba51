"""Process probe: resident and unique memory, Python threads, open fds and sockets."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from types import FrameType

import psutil

logger = logging.getLogger(__name__)

MAX_THREADS_IN_DETAILS = 20
"""Threads listed with their stacks in ``details()``; the rest are counted."""

MAX_STACK_FRAMES = 25
"""Innermost frames kept per thread stack: enough to see where it waits."""

MAX_FDS_IN_DETAILS = 50
"""File descriptors (and sockets) listed in ``details()``; the rest are counted."""

_PROC_FD = "/proc/self/fd"


class ProcessProbe:
    """A probe of what the operating system sees: memory, threads, fds, sockets.

    Signals: ``rss_bytes``, ``uss_bytes`` (memory only this process maps),
    ``threads`` (live Python threads, the ones that have names and stacks),
    ``fds`` (open file descriptors) and ``sockets`` (those that are sockets).
    The baseline at ``start()`` is the set of thread idents and fd numbers
    that existed then, so that ``details()`` can list what is new.
    """

    name = "process"

    def __init__(self) -> None:
        """Create the probe; nothing is read until ``start()``."""
        self._process = psutil.Process()
        self._baseline_threads: frozenset[int] = frozenset()
        self._baseline_fds: frozenset[int] = frozenset()

    def start(self) -> None:
        """Remember the threads and fds that exist before the first cycle."""
        self._baseline_threads = frozenset(
            thread.ident for thread in threading.enumerate() if thread.ident
        )
        self._baseline_fds = frozenset(_open_fds())

    def sample(self) -> dict[str, float]:
        """Read memory, thread, fd and socket counts."""
        memory = self._process.memory_full_info()
        fds = _open_fds()
        sockets = sum(1 for target in fds.values() if target.startswith("socket:"))
        return {
            "rss_bytes": float(memory.rss),
            "uss_bytes": float(getattr(memory, "uss", memory.rss)),
            "threads": float(threading.active_count()),
            "fds": float(len(fds)),
            "sockets": float(sockets),
        }

    def details(self) -> dict[str, object]:
        """List threads, fds and sockets opened since ``start()``, capped."""
        threads = self._new_threads()
        fds = {
            fd: target
            for fd, target in sorted(_open_fds().items())
            if fd not in self._baseline_fds
        }
        sockets = self._sockets(set(fds))
        return {
            "threads": threads[:MAX_THREADS_IN_DETAILS],
            "threads_omitted": max(0, len(threads) - MAX_THREADS_IN_DETAILS),
            "fds": [
                {"fd": fd, "target": target}
                for fd, target in list(fds.items())[:MAX_FDS_IN_DETAILS]
            ],
            "fds_omitted": max(0, len(fds) - MAX_FDS_IN_DETAILS),
            "sockets": sockets[:MAX_FDS_IN_DETAILS],
            "sockets_omitted": max(0, len(sockets) - MAX_FDS_IN_DETAILS),
        }

    def stop(self) -> None:
        """Forget the baseline."""
        self._baseline_threads = frozenset()
        self._baseline_fds = frozenset()

    def _new_threads(self) -> list[dict[str, object]]:
        frames = sys._current_frames()
        threads: list[dict[str, object]] = []
        for thread in threading.enumerate():
            if thread.ident in self._baseline_threads:
                continue

            frame = frames.get(thread.ident) if thread.ident else None
            stack = _format_stack(frame) if frame is not None else []
            threads.append(
                {
                    "name": thread.name,
                    "ident": thread.ident,
                    "daemon": thread.daemon,
                    "target": _target_name(thread),
                    "stack": stack[-MAX_STACK_FRAMES:],
                }
            )
        return threads

    def _sockets(self, new_fds: set[int]) -> list[dict[str, object]]:
        try:
            connections = self._process.net_connections(kind="all")
        except psutil.Error as exc:
            logger.debug("Could not list this process's sockets: %s.", exc)
            return []

        return [
            {
                "fd": connection.fd,
                "family": connection.family.name,
                "type": connection.type.name,
                "local": _address(connection.laddr),
                "remote": _address(connection.raddr),
                "status": connection.status,
            }
            for connection in connections
            if connection.fd in new_fds
        ]


def _open_fds() -> dict[int, str]:
    """Map each open fd to what it points at (``socket:[123]``, a path, a pipe)."""
    if not os.path.isdir(_PROC_FD):
        process = psutil.Process()
        return {entry.fd: entry.path for entry in process.open_files() if entry.fd >= 0}

    targets: dict[int, str] = {}
    for entry in os.listdir(_PROC_FD):
        # NB: the directory listing holds an fd of its own, closed by the time
        # readlink runs; it and any fd closed meanwhile simply vanish.
        try:
            targets[int(entry)] = os.readlink(f"{_PROC_FD}/{entry}")
        except (FileNotFoundError, ValueError):
            continue
    return targets


def _format_stack(frame: FrameType) -> list[str]:
    """Format a thread's stack outermost first, one ``file:line in function`` each."""
    return [
        f"{entry.filename}:{entry.lineno} in {entry.name}"
        + (f": {entry.line}" if entry.line else "")
        for entry in traceback.extract_stack(frame)
    ]


def _address(address: object) -> str:
    if not address:
        return ""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _target_name(thread: threading.Thread) -> str | None:
    target = getattr(thread, "_target", None)
    if target is None:
        return f"{type(thread).__module__}.{type(thread).__qualname__}.run"
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', repr(target))}"

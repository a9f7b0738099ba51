"""memray capture: every allocation of the attribution cycles, and what stayed.

:class:`MemrayProbe` runs a ``memray.Tracker`` in the worker across the
attribution cycles, with Python allocator tracing (without it a leaked pod
is attributed as whole pymalloc arenas, about 36 times too large) and the
aggregated file format (a capture of a few hundred KiB whose leaked records
read back at once). :func:`read_capture` runs in the conductor, after the
worker has exited, and ranks the allocation sites that were still alive at
the end: memray's own "leaks" view, which ``memray flamegraph --leaks``
draws from the same file.

Only the application's allocations count. Stacks are cut and filtered as
tracemalloc's are (:class:`~leakhunt.probes.allocations.StackCutter`):
leakhunt's and the harness's own work, import machinery and the tracers are
left out. memray also never sees the frames that were already running when
its tracker started: for the worker's main thread that is the worker's own
loop, so a stack with no code under test in it that does not begin at a
thread's start is a call whose caller memray missed, and is left out too.

memray attributes memory to the line that allocated it, not to the one that
stored it; the holder comes from the retention chain. A capture cut short
(the worker was killed before the tracker wrote its aggregated records) and
a platform without memray are notes in the report, never errors.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakhunt.probes.allocations import CodeMap, StackCutter

logger = logging.getLogger(__name__)

MAX_MEMRAY_SITES = 15
"""Leaked allocation sites kept in the evidence, largest first."""

MAX_MEMRAY_FRAMES = 12
"""Frames of each leaked site's stack kept in the evidence, innermost first."""

THREAD_START_FUNCTION = "_bootstrap"
THREAD_START_FILE = "/threading.py"
"""The outermost frame of a thread's whole stack (its function, and how its
file name ends): a stack that starts there was seen from its beginning."""

MemrayFrame = tuple[str, str, int]
"""A frame as memray gives it: function, file name, line number."""


@dataclass
class MemrayProbe:
    """Runs a memray tracker from the end of the warm-up to ``details()``.

    The tracker starts once ``start_after`` samples have been taken and is
    stopped by ``details()`` (or ``stop()``), which is when memray writes the
    aggregated records. ``details()`` reports the capture's path and state
    under ``memray``; the conductor reads it with :func:`read_capture`.
    """

    path: Path
    start_after: int = 0
    name: str = "memray"
    _tracker: Any = None
    _samples: int = 0
    _state: str = "not started"
    _error: str | None = None
    _cycles: int = field(default=0)

    def start(self) -> None:
        """Start tracking now if there is no warm-up to wait for."""
        if self.start_after == 0:
            self._begin()

    def sample(self) -> dict[str, float]:
        """Count traced cycles; start the tracker when the warm-up ends."""
        self._samples += 1
        if self._tracker is not None:
            self._cycles += 1
        elif self._state == "not started" and self._samples >= self.start_after:
            self._begin()
        return {}

    def details(self) -> dict[str, object]:
        """Stop the tracker (memray writes the file now) and say where it is."""
        self._end()
        return {
            "memray": {
                "path": str(self.path),
                "state": self._state,
                "cycles": self._cycles,
                "error": self._error,
            }
        }

    def stop(self) -> None:
        """Stop the tracker if it still runs."""
        self._end()

    def _begin(self) -> None:
        try:
            import memray  # noqa: PLC0415 - optional: absent on some platforms
        except ImportError as exc:
            self._state = "unavailable"
            self._error = f"memray is not installed here: {exc}"
            logger.warning("memray is not available (%s); no capture.", exc)
            return

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        try:
            tracker = memray.Tracker(
                self.path,
                trace_python_allocators=True,
                file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS,
            )
            tracker.__enter__()
        except Exception as exc:  # memray raises plain errors
            self._state = "failed"
            self._error = f"memray could not start: {exc}"
            logger.warning("memray could not start tracking to %s: %s", self.path, exc)
            return

        self._tracker = tracker
        self._state = "tracking"
        logger.info("memray is tracking allocations into %s.", self.path)

    def _end(self) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        try:
            tracker.__exit__(None, None, None)
        except Exception as exc:  # keep the rest of the details
            self._state = "failed"
            self._error = f"memray could not finish the capture: {exc}"
            logger.warning("memray could not finish %s: %s", self.path, exc)
            return
        self._state = "complete"
        logger.info(
            "memray wrote its capture of %d cycles to %s.", self._cycles, self.path
        )


def flamegraph_command(path: Path) -> str:
    """The command that draws memray's own leaks flame graph of a capture."""
    return f"memray flamegraph --leaks {shlex.quote(str(path))}"


def read_capture(
    path: Path, *, cycles: int, code: CodeMap | None = None
) -> dict[str, object]:
    """Rank the capture's leaked allocation sites; a note instead if unreadable.

    Returns ``{path, command, sites, leaked_bytes, note}``; ``sites`` holds
    each site's innermost frames, leaked bytes and allocations, and the
    bytes per cycle over ``cycles``. ``code`` tells the code under test from
    leakhunt's and the libraries' (default: :meth:`CodeMap.default`).
    """
    result: dict[str, object] = {
        "path": str(path),
        "command": flamegraph_command(path),
        "sites": [],
        "leaked_bytes": None,
        "note": None,
    }
    try:
        import memray  # noqa: PLC0415 - optional: absent on some platforms
    except ImportError as exc:
        result["note"] = f"memray is not installed, so there is no capture ({exc})."
        return result

    if not path.exists() or path.stat().st_size == 0:
        result["note"] = (
            f"The memray capture {path} is missing or empty: the worker ended "
            "before memray wrote it."
        )
        return result

    try:
        reader = memray.FileReader(path)
        try:
            records = list(reader.get_leaked_allocation_records(merge_threads=True))
        finally:
            reader.close()
    except Exception as exc:  # a truncated file raises plain errors
        result["note"] = (
            f"The memray capture {path} could not be read ({exc}); it was "
            "probably cut short when the worker was killed."
        )
        return result

    cutter = StackCutter(code if code is not None else CodeMap.default())
    by_site: dict[tuple[tuple[str, int], ...], _Leaked] = {}
    for record in records:
        stack: list[MemrayFrame] = record.stack_trace()
        key = _site_key(stack, cutter)
        if key is None:
            continue
        entry = by_site.setdefault(key, _Leaked(stack[: len(key)]))
        entry.size += record.size
        entry.count += record.n_allocations

    ranked = sorted(by_site.values(), key=lambda leaked: leaked.size, reverse=True)
    per = max(cycles, 1)
    result["leaked_bytes"] = sum(leaked.size for leaked in by_site.values())
    result["sites"] = [leaked.to_dict(per) for leaked in ranked[:MAX_MEMRAY_SITES]]
    return result


@dataclass
class _Leaked:
    """What one site left allocated: its stack (innermost first) and totals."""

    stack: Sequence[MemrayFrame]
    size: int = 0
    count: int = 0

    def to_dict(self, cycles: int) -> dict[str, object]:
        function, filename, line = self.stack[0]
        return {
            "where": f"{filename}:{line}",
            "function": function,
            "leaked_bytes": self.size,
            "allocations": self.count,
            "bytes_per_cycle": round(self.size / cycles, 1),
            "stack": [
                {"function": name, "file": file, "line": number}
                for name, file, number in self.stack[:MAX_MEMRAY_FRAMES]
            ],
        }


def _site_key(
    stack: Sequence[MemrayFrame], cutter: StackCutter
) -> tuple[tuple[str, int], ...] | None:
    """The site of an application's allocation, or None for anyone else's."""
    key = cutter.key([(filename, line) for _, filename, line in stack])
    if key is None:
        return None
    if any(cutter.kind(filename) == "test" for filename, _ in key):
        return key
    function, filename, _ = stack[-1]
    if function == THREAD_START_FUNCTION and filename.endswith(THREAD_START_FILE):
        return key
    return None

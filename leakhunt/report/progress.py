"""A live progress display for long soaks: a bar and the growth estimates so far.

Each cycle the display refits a robust slope to a few headline signals, so a
user watching a 500-cycle soak sees a leak take shape long before the verdict.
The estimates are only indicative; the verdict at the end is the judgement.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leakhunt.analysis.trend import MIN_TREND_POINTS, fit_trend

if TYPE_CHECKING:
    from leakhunt.soak import SoakOptions

logger = logging.getLogger(__name__)

HEADLINE_SIGNALS: tuple[tuple[str, str], ...] = (
    ("rss_bytes", "B"),
    ("gc_objects", "objects"),
    ("threads", "threads"),
    ("fds", "fds"),
    ("api_connections", "connections"),
    ("server_watches_open", "watches"),
)
"""Signals whose growth the progress display estimates, with their units."""

SKIP_FIRST = 2
"""Cycles left out of the live estimate; the first ones carry warm-up."""


def estimate(values: Sequence[float]) -> float | None:
    """A quick per-cycle slope of ``values`` after the first cycles, or None."""
    points = np.asarray(values[SKIP_FIRST:], dtype=float)
    points = points[np.isfinite(points)]
    if len(points) < MIN_TREND_POINTS:
        return None
    if np.all(points == points[0]):
        return 0.0
    return fit_trend(np.arange(len(points), dtype=float), points).slope


def _format(value: float, unit: str) -> str:
    if unit == "B":
        magnitude = abs(value)
        for suffix, scale in (("MiB", 2**20), ("KiB", 2**10)):
            if magnitude >= scale:
                return f"{value / scale:+.2f} {suffix}"
        return f"{value:+.0f} B"
    # Counts that move by hundreds read better whole; small slopes keep the
    # decimals that tell half a thread a cycle from none.
    return f"{value:+.0f} {unit}" if abs(value) >= 100 else f"{value:+.2f} {unit}"


PLAIN_LINES = 10
"""Progress lines a soak writes when its output is not a terminal.

In a CI log or a pipe a live bar cannot redraw itself, so the display falls
back to one line every tenth of the run (and one for the last cycle): enough
to see a long soak move without flooding the log.
"""


class SoakProgress:
    """Draws a soak's progress on a rich console while it runs.

    On a terminal it is a live bar with a table of growth estimates; anywhere
    else (a CI log, a pipe) it writes a plain line now and then instead.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console if console is not None else Console(stderr=True)
        self._cycles = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task = self._progress.add_task("starting", total=None)
        self._live: Live | None = None
        if self.console.is_terminal:
            self._live = Live(
                Group(self._progress, Table.grid()),
                console=self.console,
                refresh_per_second=4,
                transient=False,
            )

    def __enter__(self) -> SoakProgress:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def started(self, options: SoakOptions, server: str) -> None:
        """Show what runs where."""
        self.console.print(
            f"Soaking [bold]{options.target}[/] ({options.scenario}, "
            f"{options.cycles} cycles) against the {server}"
        )
        self._cycles = options.cycles
        self._progress.update(self._task, description="cycles", total=options.cycles)

    def cycle_done(self, cycle: int, series: dict[str, list[float]]) -> None:
        """Advance the bar and refresh the growth estimates."""
        done = cycle + 1
        estimates = _estimates(series)
        if self._live is None:
            step = max(1, math.ceil(self._cycles / PLAIN_LINES))
            if done % step == 0 or done == self._cycles:
                growth = ", ".join(f"{name} {value}" for name, value in estimates)
                self.console.print(
                    f"cycle {done}/{self._cycles}"
                    + (f": per cycle {growth}" if growth else ""),
                    highlight=False,
                )
            return

        self._progress.update(self._task, completed=done)
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim")
        table.add_column(justify="right")
        for name, value in estimates:
            table.add_row(f"{name} per cycle", value)
        self._live.update(Group(self._progress, table))

    def explaining(self, cycles: int) -> None:
        """Say that the attribution pass runs, and pulse the bar meanwhile."""
        self.console.print(
            f"Growth found: explaining it with {cycles} traced cycles under "
            "memray and tracemalloc (slower per cycle than screening)"
        )
        self._progress.update(
            self._task, description="explaining", total=None, completed=0
        )


def _estimates(series: dict[str, list[float]]) -> list[tuple[str, str]]:
    """The headline signals' growth per cycle so far, formatted with units."""
    rows = []
    for name, unit in HEADLINE_SIGNALS:
        values = series.get(name)
        if not values:
            continue
        slope = estimate(values)
        if slope is None or math.isnan(slope):
            continue
        rows.append((name, _format(slope, unit)))
    return rows

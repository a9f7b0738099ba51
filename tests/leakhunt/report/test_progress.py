"""The soak's progress display: a live bar on a terminal, plain lines in a log."""

from __future__ import annotations

import io

from rich.console import Console

from leakhunt.report.progress import PLAIN_LINES, SoakProgress, estimate
from leakhunt.soak import SoakOptions


def run_display(*, terminal: bool, cycles: int) -> str:
    """Drive a display through a soak whose objects grow by 100 a cycle."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=terminal, width=120, color_system=None
    )
    options = SoakOptions(target="myop.controller:controller", cycles=cycles)
    series: dict[str, list[float]] = {"gc_objects": [], "threads": []}
    with SoakProgress(console) as progress:
        progress.started(options, "simulator at http://127.0.0.1:1")
        for cycle in range(cycles):
            series["gc_objects"].append(50_000 + 100 * cycle)
            series["threads"].append(3)
            progress.cycle_done(cycle, series)
    return buffer.getvalue()


def test_a_log_gets_a_line_every_tenth_of_the_run_and_one_for_the_last_cycle() -> None:
    lines = run_display(terminal=False, cycles=25).splitlines()

    progress = [line for line in lines if line.startswith("cycle ")]
    assert progress[0].startswith("cycle 3/25")
    assert progress[-1].startswith("cycle 25/25: per cycle gc_objects +100 objects")
    assert len(progress) <= PLAIN_LINES + 1


def test_a_log_line_ends_before_whatever_is_printed_next() -> None:
    text = run_display(terminal=False, cycles=5)

    assert text.endswith("\n")
    assert "threads +0.00 threads" in text.splitlines()[-1]


def test_a_terminal_gets_the_bar_and_the_growth_table() -> None:
    text = run_display(terminal=True, cycles=8)

    assert "8/8" in text
    assert "gc_objects per cycle" in text


def test_no_estimate_is_shown_before_a_trend_can_be_fitted() -> None:
    assert estimate([1.0, 2.0, 3.0]) is None
    assert estimate([5.0] * 10) == 0.0

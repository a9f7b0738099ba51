"""Findings from the lifecycle itself: stops that hang, tasks left pending and
handlers that block the watch.

The harness reports, per cycle, how long the stop took, whether it missed its
deadline (with every live thread's stack) and which asyncio tasks were still
pending afterwards. These are judged exactly, not statistically: one stop
that hangs is one too many.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from leakhunt.report.model import BLOCKING_HANDLER, STOP_TIMEOUT, TASK_LEAK, Finding

logger = logging.getLogger(__name__)

MAX_STACKS = 10
"""Thread stacks or tasks kept as evidence per finding."""

CONTROLLER_ERROR = "ControllerError"
"""The ``type`` of a report's error when the controller raised in a cycle."""


def lifecycle_findings(results: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Judge the per-cycle results of the harness."""
    findings: list[Finding] = []
    cycles = len(results)
    if not cycles:
        return findings

    hung = [r for r in results if r.get("stop_timed_out")]
    if hung:
        first = hung[0]
        findings.append(
            Finding(
                kind=STOP_TIMEOUT,
                signal="stop_seconds",
                per_cycle=len(hung) / cycles,
                unit="stops",
                message=(
                    f"the stop missed its deadline in {len(hung)} of {cycles} "
                    f"cycles (first in cycle {first['cycle']}); the stacks show "
                    "where the threads were waiting"
                ),
                evidence={
                    "cycles": [r["cycle"] for r in hung],
                    "threads": list(first.get("thread_dump", []))[:MAX_STACKS],
                    "notes": list(first.get("notes", [])),
                },
            )
        )

    pending = [r for r in results if r.get("pending_task_count")]
    if pending:
        last = pending[-1]
        findings.append(
            Finding(
                kind=TASK_LEAK,
                signal="tasks_pending",
                per_cycle=float(last["pending_task_count"]) / cycles,
                unit="tasks",
                message=(
                    f"{last['pending_task_count']} asyncio task(s) still pending "
                    f"after the stop of cycle {last['cycle']}; tasks were left "
                    f"behind in {len(pending)} of {cycles} cycles"
                ),
                evidence={"tasks": list(last.get("pending_tasks", []))[:MAX_STACKS]},
            )
        )
    return findings


def first_error(results: Sequence[Mapping[str, Any]]) -> dict[str, object] | None:
    """The first cycle in which the controller raised, as a report error."""
    for result in results:
        text = result.get("error")
        if text:
            lines = str(text).strip().splitlines()
            return {
                "cycle": result["cycle"],
                "type": CONTROLLER_ERROR,
                "message": lines[-1] if lines else "the controller raised",
                "traceback": str(text),
            }
    return None


MAX_HANDLING_SHARE = 0.3
"""Share of a watch thread's time in handlers above which they block the watch.

A handler that only queues a key costs microseconds per event, and turning
the event into an object costs about 1.5 ms per pod; at the churn scenario's
20 events a second that keeps a watch thread busy for a few percent of the
cycle. A third of the cycle spent away from the watch means the handler does
the work a worker should do.
"""


def handler_findings(
    shares: Sequence[float], frames: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    """Judge the share of watch-thread time spent in handlers, per cycle."""
    measured = [share for share in shares if not math.isnan(share)]
    if not measured:
        return []
    median = statistics.median(measured)
    if median < MAX_HANDLING_SHARE:
        return []
    return [
        Finding(
            kind=BLOCKING_HANDLER,
            signal="watch_handling_share",
            per_cycle=median,
            unit="share",
            message=(
                f"watch threads spent {median:.0%} of each cycle (median) in event "
                "handlers instead of reading the watch; handlers should only "
                "queue a key and let a worker do the rest"
            ),
            evidence={
                "share_per_cycle": [round(share, 3) for share in measured],
                "handler_frames": list(frames),
            },
        )
    ]

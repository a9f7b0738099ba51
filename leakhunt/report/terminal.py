"""The terminal summary of a report: a one-line verdict, then capped findings."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from leakhunt.report.evidence import EvidencePrinter
from leakhunt.report.model import (
    OBJECT_GROWTH,
    STAGE_CYCLE,
    Finding,
    Report,
    sort_findings,
)
from leakhunt.units import format_duration, format_quantity

logger = logging.getLogger(__name__)

MAX_FINDINGS_SHOWN = 12
"""Findings listed in full; the rest are counted."""

MAX_TYPES_SHOWN = 6
"""Growing object types named on the object-growth line."""

MAX_EVIDENCE_ITEMS = 5
"""Threads, fds or sockets listed under a finding."""

MAX_STACK_LINES = 4
"""Innermost stack lines shown for a leaked thread."""

MAX_STACKS_SHOWN = 2
"""Leaked threads shown with their stacks; later ones are named only."""

MAX_TRACEBACK_LINES = 20
"""Last lines of a failed cycle's traceback shown."""

_TYPE_PREFIX = "objects."


def plain_text(report: Report) -> str:
    """Return what :func:`render` prints, as plain text without colour."""
    buffer = io.StringIO()
    # NB: soft wrapping keeps long lines (paths, stack lines) whole, so the
    # text reads the same in a log, a CI page or a test failure.
    render(report, Console(file=buffer, soft_wrap=True, color_system=None))
    return buffer.getvalue().rstrip()


def render(report: Report, console: Console | None = None) -> None:
    """Print ``report`` for people: the verdict first, then what grows and why."""
    out = console if console is not None else Console()
    out.print(verdict_line(report))
    evidence = EvidencePrinter(out)

    findings = sort_findings(report.findings)
    types = [f for f in findings if f.kind == OBJECT_GROWTH and _is_type(f)]
    others = [f for f in findings if f not in types]

    shown = 0
    for finding in others:
        if shown == MAX_FINDINGS_SHOWN:
            break
        _render_finding(out, finding)
        evidence.finding(finding.evidence)
        shown += 1
    if types and shown < MAX_FINDINGS_SHOWN:
        _render_types(out, types)
        chain = next(
            (f.evidence["retention_chain"] for f in types if _has_chain(f)), None
        )
        if isinstance(chain, dict):
            evidence.chain(chain)
        shown += 1
    hidden = len(others) - min(len(others), MAX_FINDINGS_SHOWN)
    if hidden:
        out.print(Text(f"  ...and {hidden} more findings", style="dim"))

    if report.error is not None:
        _render_error(out, report.error)

    attribution = report.meta.get("attribution")
    if isinstance(attribution, dict):
        evidence.summary(attribution)

    timing = _timing_line(report)
    if timing:
        out.print(Text(f"  {timing}", style="dim"))


def verdict_line(report: Report) -> Text:
    """Return the one-line verdict: PASS or FAIL, what was found, over how long."""
    target = report.meta.get("target")
    subject = f" of {target}" if target else ""
    warmup = (
        "warm-up detected per signal"
        if report.warmup is None
        else f"{report.warmup} warm-up cycles"
    )

    line = Text()
    if report.passed:
        line.append("PASS", style="bold green")
        line.append(f"  nothing grows over {report.cycles} cycles{subject} ({warmup})")
        return line

    line.append("FAIL", style="bold red")
    parts = []
    if report.findings:
        # Growing object types are listed together under one heading, so they
        # are counted apart: "59 findings" would promise 59 separate entries.
        types = sum(1 for f in report.findings if _is_type(f))
        count = len(report.findings) - types
        kinds = ", ".join(dict.fromkeys(f.kind for f in sort_findings(report.findings)))
        counted = [f"{count} finding{'s' if count != 1 else ''}"] if count else []
        if types:
            counted.append(f"{types} growing object type{'s' if types != 1 else ''}")
        parts.append(f"{' and '.join(counted)} ({kinds})")
    if report.error is not None:
        parts.append(f"{_error_place(report.error)} raised an error")
    line.append(f"  {'; '.join(parts)} in {report.cycles} cycles{subject} ({warmup})")
    return line


def _render_finding(out: Console, finding: Finding) -> None:
    head = Text("  ")
    head.append(f"{finding.kind:<14}", style="bold")
    head.append(f" {finding.signal}: {_growth(finding)}")
    head.append(f"  confidence {finding.confidence:.1%}", style="dim")
    out.print(head)
    out.print(Text(f"      {finding.message}"))

    for key, label in (("threads", "thread"), ("fds", "fd"), ("sockets", "socket")):
        items = finding.evidence.get(key)
        if isinstance(items, list) and items:
            omitted = finding.evidence.get(f"{key}_omitted", 0)
            _render_items(out, label, items, omitted if isinstance(omitted, int) else 0)

    # Findings made elsewhere (watches left open, stops that timed out) carry
    # lists of plain strings such as URLs or stack lines: show their heads.
    for key, items in finding.evidence.items():
        if not isinstance(items, list) or not items:
            continue
        if not all(isinstance(item, str) for item in items):
            continue
        out.print(Text(f"      {key}:"))
        for item in items[:MAX_EVIDENCE_ITEMS]:
            out.print(Text(f"        {item}", style="dim"))
        if len(items) > MAX_EVIDENCE_ITEMS:
            more = len(items) - MAX_EVIDENCE_ITEMS
            out.print(Text(f"        ...and {more} more", style="dim"))


def _render_types(out: Console, findings: Sequence[Finding]) -> None:
    ranked = sorted(findings, key=lambda f: f.per_cycle, reverse=True)
    names = ", ".join(
        f"{f.signal.removeprefix(_TYPE_PREFIX)} {_signed(f.per_cycle, f.unit)}"
        for f in ranked[:MAX_TYPES_SHOWN]
    )
    more = len(ranked) - MAX_TYPES_SHOWN
    if more > 0:
        names += f", ...and {more} more types"

    head = Text("  ")
    head.append(f"{OBJECT_GROWTH:<14}", style="bold")
    count = len(ranked)
    types = "1 object type grows" if count == 1 else f"{count} object types grow"
    head.append(f" {types} per cycle")
    out.print(head)
    out.print(Text(f"      {names}"))


def _render_items(
    out: Console, label: str, items: Sequence[object], omitted: int
) -> None:
    for index, item in enumerate(items[:MAX_EVIDENCE_ITEMS]):
        if not isinstance(item, dict):
            continue
        if label == "thread":
            out.print(Text(f"      {label} {item.get('name')} ({item.get('target')})"))
            stack = item.get("stack")
            if isinstance(stack, list) and index < MAX_STACKS_SHOWN:
                for line in stack[-MAX_STACK_LINES:]:
                    out.print(Text(f"        {line}", style="dim"))
        elif label == "fd":
            out.print(Text(f"      {label} {item.get('fd')} -> {item.get('target')}"))
        else:
            out.print(
                Text(
                    f"      {label} fd {item.get('fd')} {item.get('type')} "
                    f"{item.get('local')} -> {item.get('remote') or '-'} "
                    f"{item.get('status')}"
                )
            )
    more = len(items) - MAX_EVIDENCE_ITEMS + omitted
    if more > 0:
        out.print(Text(f"      ...and {more} more {label}s", style="dim"))


def _render_error(out: Console, error: dict[str, object]) -> None:
    head = Text("  ")
    head.append("error", style="bold red")
    kind, message = error.get("type"), error.get("message")
    head.append(f"  {_error_place(error)} raised {kind}: {message}")
    out.print(head)

    lines = str(error.get("traceback") or "").rstrip().splitlines()
    if len(lines) > MAX_TRACEBACK_LINES:
        out.print(
            Text(
                f"      ...{len(lines) - MAX_TRACEBACK_LINES} earlier traceback lines",
                style="dim",
            )
        )
    for line in lines[-MAX_TRACEBACK_LINES:]:
        out.print(Text(f"      {line}", style="dim"))


def _error_place(error: dict[str, object]) -> str:
    # Reports written before stages were recorded only ever broke in the cycle.
    stage = error.get("stage", STAGE_CYCLE)
    place = f"cycle {error.get('cycle')}"
    return place if stage == STAGE_CYCLE else f"{stage} in {place}"


def _growth(finding: Finding) -> str:
    if finding.ci_low is None or finding.ci_high is None:
        # NB: without an interval this is not a trend but a count of what was
        # seen (cycles that timed out, watches left open).
        quantity = format_quantity(finding.per_cycle, finding.unit)
        return (
            quantity
            if finding.unit in ("count", "bytes")
            else f"{quantity} {finding.unit}"
        )
    growth = f"{_signed(finding.per_cycle, finding.unit)} per cycle"
    low = format_quantity(finding.ci_low, finding.unit)
    high = format_quantity(finding.ci_high, finding.unit)
    return f"{growth} (CI {low} to {high})"


def _timing_line(report: Report) -> str:
    seconds = report.meta.get("seconds")
    if not isinstance(seconds, dict) or not isinstance(seconds.get("total"), float):
        return ""

    line = f"{report.cycles} cycles in {format_duration(seconds['total'])}"
    parts = [
        f"{label} {format_duration(value)}"
        for label, value in (
            ("settle", seconds.get("settle_median")),
            ("sample", seconds.get("sample_median")),
        )
        if isinstance(value, float)
    ]
    if parts:
        line += f" ({', '.join(parts)} per cycle)"
    return line


def _signed(value: float, unit: str) -> str:
    text = format_quantity(value, unit)
    return text if text.startswith("-") else f"+{text}"


def _has_chain(finding: Finding) -> bool:
    return isinstance(finding.evidence.get("retention_chain"), dict)


def _is_type(finding: Finding) -> bool:
    return finding.signal.startswith(_TYPE_PREFIX)

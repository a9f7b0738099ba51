"""The verdict: per-cycle series in, findings out, as a pure function."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from leakhunt.analysis.signals import SignalRegistry, SignalSpec, default_signals
from leakhunt.analysis.thresholds import Thresholds
from leakhunt.analysis.trend import (
    MIN_TREND_POINTS,
    FloatArray,
    Trend,
    detect_warmup,
    fit_trend,
    mostly_increasing,
    ordering_p_value,
    plateau_start,
    strictly_increasing,
)
from leakhunt.probes.objects import TYPE_SIGNAL_PREFIX
from leakhunt.report.model import (
    FD_LEAK,
    OBJECT_GROWTH,
    SOCKET_LEAK,
    THREAD_LEAK,
    Finding,
    sort_findings,
)
from leakhunt.units import format_quantity

logger = logging.getLogger(__name__)

EXACT_DELTAS = "exact-deltas"
THEIL_SEN = "theil-sen"
MOSTLY_RISING = "mostly-rising"

MOSTLY_RISING_SHARE = 0.75
"""Share of cycles in which an exact count that never fell must have risen.

Clean exact counts (threads, fds, sockets, objects of a type) stay flat or
move both ways; one that only ever rises, in three cycles out of four or
more, is a leak whose growth sometimes lands a cycle late.
"""

EVIDENCE_KEYS: Mapping[str, tuple[str, ...]] = {
    THREAD_LEAK: ("threads", "threads_omitted"),
    FD_LEAK: ("fds", "fds_omitted"),
    SOCKET_LEAK: ("sockets", "sockets_omitted"),
    OBJECT_GROWTH: ("grown_types", "grown_types_omitted"),
}
"""Which probe details back each kind of finding (see :func:`attach_details`)."""


@dataclass(frozen=True)
class _Window:
    """The part of one series that is judged: finite points after warm-up."""

    x: FloatArray
    y: FloatArray
    warmup: int


@dataclass(frozen=True)
class _Candidate:
    """Growth one rule saw in a window, a finding unless it has stopped."""

    method: str
    window: _Window
    trend: Trend
    p_value: float


def judge(
    series: Mapping[str, Sequence[float]],
    *,
    warmup: int | None = None,
    thresholds: Thresholds | None = None,
    signals: SignalRegistry | None = None,
) -> list[Finding]:
    """Turn per-cycle series into findings, most specific kind first.

    ``series`` maps a signal name to one value per cycle (NaN where it was not
    measured). ``warmup`` cycles are set aside from every series; None
    detects warm-up per series. A series is a leak when its exact deltas all
    rise (integer signals, over at least ``thresholds.exact_points`` cycles),
    or when its Theil-Sen interval lies above the signal's minimum growth,
    the Kendall test reaches ``thresholds.alpha``, and growth has not
    stopped (a series that grows, then stays flat is a bounded cache, not a
    leak). Signals missing from the registry are kept in the report but not
    judged. Pure: safe to call in any process.
    """
    limits = thresholds if thresholds is not None else Thresholds()
    registry = signals if signals is not None else default_signals()

    findings: list[Finding] = []
    for name, values in series.items():
        spec = registry.lookup(name)
        if spec is None or not spec.judged:
            continue

        finding = judge_series(name, values, spec, warmup=warmup, thresholds=limits)
        if finding is not None:
            findings.append(finding)
    return sort_findings(findings)


def judge_series(
    name: str,
    values: Sequence[float],
    spec: SignalSpec,
    *,
    warmup: int | None,
    thresholds: Thresholds,
) -> Finding | None:
    """Judge one series; return its finding, or None when it does not leak."""
    min_growth = thresholds.min_growth_for(name, spec.min_growth)
    window = _window(
        values, spec, warmup=warmup, thresholds=thresholds, floor=min_growth
    )
    if window is None:
        return None

    x, y = window.x, window.y

    # NB: Theil-Sen's median pairwise slope can only exceed the minimum growth
    # if the series rises by more than that somewhere, so flat series (most
    # per-type counts) are settled without any statistics.
    if np.ptp(y) <= min_growth:
        return None

    trend = fit_trend(x, y, confidence=thresholds.confidence)

    # First, exact counts that rose every cycle, or never fell and rose in
    # most cycles; then, the statistical verdict: a confident slope above the
    # minimum growth.
    candidate = (
        _exact_candidate(
            values,
            spec,
            window=window,
            trend=trend,
            warmup=warmup,
            thresholds=thresholds,
        )
        if spec.integer
        else None
    )
    if candidate is None:
        if trend.ci_low <= min_growth or trend.p_value >= thresholds.alpha:
            return None
        candidate = _Candidate(THEIL_SEN, window, trend, trend.p_value)

    # Finally, growth that has stopped is a bounded cache, not a leak,
    # whichever rule saw it: a cache filling by a steady 8 entries a cycle
    # rises in every cycle until it is full.
    judged = candidate.window
    plateau = plateau_start(
        judged.x,
        judged.y,
        min_growth=min_growth,
        min_points=thresholds.plateau_points,
        confidence=thresholds.confidence,
    )
    if plateau is not None:
        logger.debug(
            "Signal %s grew by %s per cycle and stopped growing at cycle %d; "
            "treating it as a bounded cache.",
            name,
            format_quantity(candidate.trend.slope, spec.unit),
            int(judged.x[plateau]) + 1,
        )
        return None

    return _finding(
        name,
        spec,
        candidate.trend,
        judged,
        method=candidate.method,
        p_value=candidate.p_value,
        thresholds=thresholds,
    )


def _exact_candidate(
    values: Sequence[float],
    spec: SignalSpec,
    *,
    window: _Window,
    trend: Trend,
    warmup: int | None,
    thresholds: Thresholds,
) -> _Candidate | None:
    """Judge an exact count on its deltas alone, or return None."""
    if len(window.y) >= thresholds.exact_points and strictly_increasing(window.y):
        return _Candidate(EXACT_DELTAS, window, trend, ordering_p_value(len(window.y)))

    # NB: over every cycle, not the window: a thread or socket leaked per
    # cycle whose count now and then lags a cycle behind must not hide in the
    # short window left after a warm-up was cut.
    whole = _window(
        values,
        spec,
        warmup=0 if warmup is None else warmup,
        thresholds=thresholds,
        floor=0.0,
    )
    if (
        whole is None
        or len(whole.y) <= thresholds.exact_points
        or not mostly_increasing(whole.y, share=MOSTLY_RISING_SHARE)
    ):
        return None
    whole_trend = fit_trend(whole.x, whole.y, confidence=thresholds.confidence)
    return _Candidate(MOSTLY_RISING, whole, whole_trend, whole_trend.p_value)


def attach_details(findings: Sequence[Finding], details: Mapping[str, object]) -> None:
    """Copy the probe details that back each finding into its evidence.

    ``details`` is the merged ``details()`` of the probes after the last
    sample (thread stacks, fd targets, socket endpoints, grown types).
    """
    for finding in findings:
        for key in EVIDENCE_KEYS.get(finding.kind, ()):
            if key in details:
                finding.evidence.setdefault(key, details[key])


def _window(
    values: Sequence[float],
    spec: SignalSpec,
    *,
    warmup: int | None,
    thresholds: Thresholds,
    floor: float,
) -> _Window | None:
    y_all = np.asarray(values, dtype=np.float64)
    x_all = np.arange(len(y_all), dtype=np.float64)
    finite = np.isfinite(y_all)
    x, y = x_all[finite], y_all[finite]

    if warmup is not None:
        keep = x >= warmup
        x, y = x[keep], y[keep]
        dropped = warmup
    else:
        max_warmup = math.floor(len(y) * thresholds.max_warmup_fraction)
        scale_floor = max(floor / 2, 0.25 if spec.integer else 1.0)
        points = detect_warmup(x, y, scale_floor=scale_floor, max_warmup=max_warmup)
        x, y = x[points:], y[points:]
        dropped = int(x[0]) if len(x) else len(y_all)

    if len(y) < MIN_TREND_POINTS:
        return None
    return _Window(x=x, y=y, warmup=dropped)


def _finding(
    name: str,
    spec: SignalSpec,
    trend: Trend,
    window: _Window,
    *,
    method: str,
    p_value: float,
    thresholds: Thresholds,
) -> Finding:
    label = _label(name, spec)
    growth = format_quantity(trend.slope, spec.unit)
    low = format_quantity(trend.ci_low, spec.unit)
    high = format_quantity(trend.ci_high, spec.unit)
    percent = f"{thresholds.confidence:.0%}"
    cycles = len(window.y)
    after = (
        f" after {window.warmup} warm-up cycle{'s' if window.warmup != 1 else ''}"
        if window.warmup
        else ""
    )

    if method == EXACT_DELTAS:
        message = (
            f"{label} rose in every one of the last {cycles - 1} cycles, by "
            f"{growth} per cycle ({percent} CI {low} to {high}){after}"
        )
    else:
        message = (
            f"{label} grows by {growth} per cycle ({percent} CI {low} to {high}) "
            f"over {cycles} cycles{after}"
        )

    deltas = np.diff(window.y)
    return Finding(
        kind=spec.kind,
        signal=name,
        per_cycle=trend.slope,
        unit=spec.unit,
        message=message,
        ci_low=trend.ci_low,
        ci_high=trend.ci_high,
        confidence=1.0 - p_value,
        evidence={
            "method": method,
            "warmup": window.warmup,
            "cycles_judged": cycles,
            "p_value": p_value,
            "first": float(window.y[0]),
            "last": float(window.y[-1]),
            "min_delta": float(deltas.min()),
            "max_delta": float(deltas.max()),
            "description": spec.description,
        },
    )


def _label(name: str, spec: SignalSpec) -> str:
    if name.startswith(TYPE_SIGNAL_PREFIX):
        return f"Live {name.removeprefix(TYPE_SIGNAL_PREFIX)} objects ({name})"
    description = spec.description[:1].upper() + spec.description[1:]
    return f"{description} ({name})"

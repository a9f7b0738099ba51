"""Plots of per-cycle series as inline SVG: the values, the warm-up, the trend.

Drawn by hand rather than with a plotting library so that the HTML report
needs nothing to open (no script, no font, no network) and leakhunt needs
no plotting dependency. One :class:`Plot` per signal: the measured values as
a line with points, the warm-up cycles shaded, and the fitted trend line
over the judged cycles, dashed.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from leakhunt.units import format_quantity

logger = logging.getLogger(__name__)

WIDTH = 560
HEIGHT = 190
MARGIN_LEFT = 78
MARGIN_RIGHT = 14
MARGIN_TOP = 26
MARGIN_BOTTOM = 30

MAX_MARKERS = 80
"""Series longer than this are drawn as a line only, without a dot per cycle."""

Y_TICKS = 4
"""Labelled values on the vertical axis."""

SERIES_COLOUR = "#1f5fa8"
TREND_COLOUR = "#c0392b"
WARMUP_FILL = "#ececec"


@dataclass(frozen=True)
class Trend:
    """A fitted line ``value = intercept + slope * cycle`` from ``start`` on."""

    slope: float
    intercept: float
    start: int


@dataclass(frozen=True)
class Plot:
    """One signal's series with what to draw over it."""

    signal: str
    values: Sequence[float]
    unit: str
    warmup: int = 0
    trend: Trend | None = None
    title: str = ""
    flagged: bool = False

    def svg(self) -> str:
        """The plot as a standalone ``<svg>`` element."""
        return render_svg(self)


def fit_line(
    values: Sequence[float], start: int, slope: float | None = None
) -> Trend | None:
    """The trend over ``values[start:]``: Theil-Sen, or the median intercept
    for a given ``slope`` (the verdict's), so the line drawn is the one judged."""
    y = np.asarray(values, dtype=np.float64)
    x = np.arange(len(y), dtype=np.float64)
    keep = np.isfinite(y) & (x >= start)
    x, y = x[keep], y[keep]
    if len(y) < 2:
        return None

    if slope is None:
        dx = x[None, :] - x[:, None]
        dy = y[None, :] - y[:, None]
        upper = dx > 0
        slope = float(np.median(dy[upper] / dx[upper]))
    intercept = float(np.median(y - slope * x))
    return Trend(slope=slope, intercept=intercept, start=int(x[0]))


def render_svg(plot: Plot) -> str:
    """Draw ``plot`` as SVG text (see the module docstring for what is drawn)."""
    values = [float(v) if v is not None else math.nan for v in plot.values]
    finite = [v for v in values if math.isfinite(v)]
    n = len(values)
    label = html.escape(plot.title or plot.signal)
    opening = (
        f'<svg class="plot" role="img" aria-label="{label}" '
        f'width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" data-signal="{html.escape(plot.signal)}" '
        f'data-points="{len(finite)}">'
    )
    parts = [opening, f"<title>{label}</title>"]
    if not finite:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
            'class="empty">no values measured</text></svg>'
        )
        return "".join(parts)

    low, high = _range(finite, plot.trend, n)
    scale = _Scale(n=n, low=low, high=high)

    # First, the frame: warm-up shading, grid and axes.
    if plot.warmup > 0:
        x0, x1 = scale.x(-0.5), scale.x(min(plot.warmup, n) - 0.5)
        parts.append(
            f'<rect class="warmup" x="{x0:.1f}" y="{MARGIN_TOP}" '
            f'width="{max(x1 - x0, 0):.1f}" height="{scale.plot_height:.1f}" '
            f'fill="{WARMUP_FILL}"/>'
            f'<text x="{x0 + 4:.1f}" y="{MARGIN_TOP + 12}" class="note">warm-up</text>'
        )
    for tick in np.linspace(low, high, Y_TICKS):
        y = scale.y(float(tick))
        text = html.escape(format_quantity(float(tick), plot.unit))
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="tick">{text}</text>'
        )
    for cycle in _cycle_ticks(n):
        x = scale.x(cycle)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'class="tick">{cycle + 1}</text>'
        )
    parts.append(
        f'<text x="{WIDTH - MARGIN_RIGHT}" y="{HEIGHT - 10}" text-anchor="end" '
        'class="tick">cycle</text>'
    )

    # Then the values, one polyline per run of measured cycles.
    for run in _runs(values):
        points = " ".join(f"{scale.x(i):.1f},{scale.y(values[i]):.1f}" for i in run)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{SERIES_COLOUR}" '
            f'stroke-width="1.8" points="{points}"/>'
        )
    if n <= MAX_MARKERS:
        parts.extend(
            f'<circle cx="{scale.x(i):.1f}" cy="{scale.y(v):.1f}" r="2.4" '
            f'fill="{SERIES_COLOUR}"/>'
            for i, v in enumerate(values)
            if math.isfinite(v)
        )

    # Finally the trend over the judged cycles.
    if plot.trend is not None:
        trend = plot.trend
        first, last = trend.start, n - 1
        parts.append(
            f'<line class="trend" x1="{scale.x(first):.1f}" '
            f'y1="{scale.y(trend.intercept + trend.slope * first):.1f}" '
            f'x2="{scale.x(last):.1f}" '
            f'y2="{scale.y(trend.intercept + trend.slope * last):.1f}" '
            f'stroke="{TREND_COLOUR}" stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    parts.append(
        f'<text x="{MARGIN_LEFT}" y="16" class="plot-title">{label}</text></svg>'
    )
    return "".join(parts)


@dataclass(frozen=True)
class _Scale:
    n: int
    low: float
    high: float

    @property
    def plot_width(self) -> float:
        return WIDTH - MARGIN_LEFT - MARGIN_RIGHT

    @property
    def plot_height(self) -> float:
        return HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(self, cycle: float) -> float:
        span = max(self.n - 1, 1)
        return MARGIN_LEFT + (cycle + 0.5) / (span + 1) * self.plot_width

    def y(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return MARGIN_TOP + (1.0 - fraction) * self.plot_height


def _range(finite: Sequence[float], trend: Trend | None, n: int) -> tuple[float, float]:
    low, high = min(finite), max(finite)
    if trend is not None:
        for cycle in (trend.start, n - 1):
            value = trend.intercept + trend.slope * cycle
            low, high = min(low, value), max(high, value)
    if high == low:
        pad = abs(high) * 0.05 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.06
    return low - pad, high + pad


def _runs(values: Sequence[float]) -> list[list[int]]:
    runs: list[list[int]] = []
    current: list[int] = []
    for index, value in enumerate(values):
        if math.isfinite(value):
            current.append(index)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _cycle_ticks(n: int) -> list[int]:
    if n <= 1:
        return [0]
    step = max(1, math.ceil(n / 8))
    ticks = list(range(0, n, step))
    if ticks[-1] != n - 1:
        ticks.append(n - 1)
    return ticks

"""Trend statistics on one per-cycle series: slope, trend test, warm-up, plateau."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

MIN_TREND_POINTS = 3
"""Theil-Sen needs at least three points to give a slope with an interval."""

WARMUP_OUTLIER_SCALES = 3.0
"""A leading point this many robust scales off the later trend is warm-up."""

WARMUP_SLOPE_SHARE = 0.5
"""A steady slope is known only roughly from half a short series, and its
error grows with the distance it is extended back. A leading point counts as
warm-up only when it is also off the line by more than this share of the
growth the line predicts between it and the steady half: a leak whose steps
vary by a fifth from cycle to cycle is not mistaken for one that warmed up."""

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Trend:
    """A robust straight-line fit: Theil-Sen slope with its confidence interval.

    ``p_value`` is the one-sided Kendall tau test that the series increases
    with the cycle (Mann-Kendall); 1.0 when the series is constant.
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    p_value: float
    points: int


def fit_trend(x: FloatArray, y: FloatArray, *, confidence: float = 0.95) -> Trend:
    """Fit a Theil-Sen slope with a ``confidence`` interval and test the trend.

    Needs at least :data:`MIN_TREND_POINTS` points with distinct ``x``.
    """
    if len(y) < MIN_TREND_POINTS:
        raise ValueError(
            f"a trend needs at least {MIN_TREND_POINTS} points, got {len(y)}"
        )

    fit = stats.theilslopes(y, x, alpha=confidence)
    return Trend(
        slope=float(fit.slope),
        intercept=float(fit.intercept),
        ci_low=float(fit.low_slope),
        ci_high=float(fit.high_slope),
        p_value=increasing_p_value(x, y),
        points=len(y),
    )


def increasing_p_value(x: FloatArray, y: FloatArray) -> float:
    """Return the one-sided Kendall tau p-value that ``y`` increases with ``x``."""
    if np.ptp(y) == 0:
        return 1.0
    result = stats.kendalltau(x, y, alternative="greater")
    p_value = float(result.pvalue)
    return 1.0 if math.isnan(p_value) else p_value


def detect_warmup(
    x: FloatArray, y: FloatArray, *, scale_floor: float, max_warmup: int
) -> int:
    """Return how many leading points are warm-up rather than steady behaviour.

    The steady state is the Theil-Sen line through the second half of the
    series, with a robust scale (MAD of its residuals, at least
    ``scale_floor``). Walking from the first point, a point is warm-up while
    it lies more than :data:`WARMUP_OUTLIER_SCALES` scales off that line
    extended back, and more than :data:`WARMUP_SLOPE_SHARE` of the growth
    the line predicts over that distance; the first point that fits ends the
    warm-up. A leak that is linear from the start therefore keeps every
    point, even when its steps vary, while a jump in cycle 1 or a cache
    filling over the first cycles is set aside. At most
    ``max_warmup`` points are dropped, and at least three are always kept.
    """
    limit = min(max_warmup, len(y) - MIN_TREND_POINTS)
    if limit <= 0:
        return 0

    steady = min(len(y) // 2, len(y) - MIN_TREND_POINTS)
    steady_x, steady_y = x[steady:], y[steady:]
    fit = stats.theilslopes(steady_y, steady_x)
    residuals = steady_y - (fit.intercept + fit.slope * steady_x)
    spread = float(np.median(np.abs(residuals - np.median(residuals))))
    scale = max(_MAD_TO_SIGMA * spread, scale_floor)

    leading = x[:limit]
    offsets = np.abs(y[:limit] - (fit.intercept + fit.slope * leading))
    extended = abs(float(fit.slope)) * (float(np.median(steady_x)) - leading)
    tolerance = np.maximum(WARMUP_OUTLIER_SCALES * scale, WARMUP_SLOPE_SHARE * extended)
    fits = np.flatnonzero(offsets <= tolerance)
    return int(fits[0]) if len(fits) else limit


def plateau_start(
    x: FloatArray,
    y: FloatArray,
    *,
    min_growth: float,
    min_points: int,
    confidence: float = 0.95,
) -> int | None:
    """Return where growth stopped, or None when the series keeps growing.

    A bounded cache grows, then stops; a leak keeps growing. Splits are
    tried from the earliest that leaves three points before it, so that the
    longest flat stretch wins: the series is fitted as a Theil-Sen line up
    to the split and a flat level (the median) after it. The first split
    where all of these hold is where growth stopped:

    - the tail (at least ``min_points`` points) is not a leak on its own:
      its slope's ``confidence`` interval reaches down to ``min_growth``;
    - the tail rises by less than half of the growth before it (the steeper
      of the whole series' slope and the head's, and at least
      ``min_growth``), so a leak hidden by noise in its last cycles is not
      taken for a plateau;
    - "grow, then stop" explains the series better than one straight line
      (smaller sum of absolute residuals).

    A tail in noise wide enough to hide a leak of ``min_growth`` passes the
    first test, and then only the other two keep a leak from passing for a
    plateau; a leak that goes on fails them in all but its last few cycles.
    """
    if len(y) < min_points + MIN_TREND_POINTS:
        return None

    line = stats.theilslopes(y, x)
    straight = float(np.sum(np.abs(y - (line.intercept + line.slope * x))))

    for split in range(MIN_TREND_POINTS, len(y) - min_points + 1):
        tail_x, tail_y = x[split:], y[split:]
        tail = stats.theilslopes(tail_y, tail_x, alpha=confidence)
        if tail.low_slope > min_growth:
            continue

        head = stats.theilslopes(y[:split], x[:split])
        rate = max(min_growth, float(line.slope), float(head.slope))
        if tail.slope >= rate / 2 or tail.high_slope >= rate:
            continue

        head_error = np.abs(y[:split] - (head.intercept + head.slope * x[:split]))
        error = float(np.sum(head_error) + np.sum(np.abs(tail_y - np.median(tail_y))))
        if error < straight:
            return split
    return None


def strictly_increasing(y: FloatArray) -> bool:
    """Tell whether every delta of an exact count is at least one."""
    return bool(len(y) >= 2 and np.all(np.diff(y) >= 1))


def mostly_increasing(y: FloatArray, *, share: float) -> bool:
    """Tell whether an exact count never fell and rose in ``share`` of its deltas."""
    deltas = np.diff(y)
    if not len(deltas) or np.any(deltas < 0):
        return False
    return bool(np.mean(deltas >= 1) >= share)


def ordering_p_value(points: int) -> float:
    """Return the chance that ``points`` exchangeable values come out in order."""
    return 1.0 / math.factorial(points)

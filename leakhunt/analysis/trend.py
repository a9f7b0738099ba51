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

    Walks from the first point: a point is warm-up when it lies more than
    :data:`WARMUP_OUTLIER_SCALES` robust scales (MAD of the residuals, at
    least ``scale_floor``) off the Theil-Sen line through the points after
    it. The first point that fits ends the warm-up. A leak that is linear
    from the start therefore keeps every point, while a jump in cycle 1 or
    a cache filling over the first cycles is set aside. At most
    ``max_warmup`` points are dropped, and at least three are always kept.
    """
    warmup = 0
    while warmup < max_warmup and len(y) - warmup - 1 >= MIN_TREND_POINTS:
        tail_x = x[warmup + 1 :]
        tail_y = y[warmup + 1 :]
        fit = stats.theilslopes(tail_y, tail_x)
        residuals = tail_y - (fit.intercept + fit.slope * tail_x)
        spread = float(np.median(np.abs(residuals - np.median(residuals))))
        scale = max(_MAD_TO_SIGMA * spread, scale_floor)

        offset = y[warmup] - (fit.intercept + fit.slope * x[warmup])
        if abs(offset) <= WARMUP_OUTLIER_SCALES * scale:
            break
        warmup += 1
    return warmup


def growth_stopped(
    x: FloatArray,
    y: FloatArray,
    trend: Trend,
    *,
    min_growth: float,
    window: int,
    confidence: float = 0.95,
) -> bool:
    """Tell whether growth over the series has stopped in its last ``window`` points.

    A bounded cache grows, then plateaus; a leak keeps growing. Growth has
    stopped when the recent slope is below ``min_growth`` *and* its upper
    confidence bound is below the slope of the whole series: noise alone in
    a short window cannot make a real leak look like a plateau, because a
    noisy window has a wide interval.
    """
    if len(y) < window + MIN_TREND_POINTS:
        return False

    recent = stats.theilslopes(y[-window:], x[-window:], alpha=confidence)
    return bool(recent.slope < min_growth and recent.high_slope < trend.slope)


def strictly_increasing(y: FloatArray) -> bool:
    """Tell whether every delta of an exact count is at least one."""
    return bool(len(y) >= 2 and np.all(np.diff(y) >= 1))


def ordering_p_value(points: int) -> float:
    """Return the chance that ``points`` exchangeable values come out in order."""
    return 1.0 / math.factorial(points)

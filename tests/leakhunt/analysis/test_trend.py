"""The statistics under the verdict: slope, trend test, warm-up, plateau."""

from __future__ import annotations

import numpy as np
import pytest

from leakhunt.analysis.trend import (
    detect_warmup,
    fit_trend,
    increasing_p_value,
    ordering_p_value,
    plateau_start,
    strictly_increasing,
)


def cycles(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


def test_theil_sen_recovers_a_slope_despite_an_outlier() -> None:
    y = 3.0 * cycles(20) + 7
    y[10] += 500

    trend = fit_trend(cycles(20), y)

    assert trend.slope == pytest.approx(3.0)
    assert trend.ci_low <= 3.0 <= trend.ci_high
    assert trend.p_value < 1e-6


def test_a_trend_needs_three_points() -> None:
    with pytest.raises(ValueError, match="at least 3 points, got 2"):
        fit_trend(cycles(2), np.array([1.0, 2.0]))


def test_a_constant_series_has_no_increasing_trend() -> None:
    assert increasing_p_value(cycles(10), np.full(10, 5.0)) == 1.0


def test_a_decreasing_series_has_no_increasing_trend() -> None:
    assert increasing_p_value(cycles(10), -cycles(10)) > 0.99


def test_a_jump_in_the_first_cycle_is_warm_up() -> None:
    y = np.full(20, 100.0)
    y[0] = 20.0

    assert detect_warmup(cycles(20), y, scale_floor=0.25, max_warmup=10) == 1


def test_a_leak_that_is_linear_from_the_start_has_no_warm_up() -> None:
    y = 2.0 * cycles(20)

    assert detect_warmup(cycles(20), y, scale_floor=0.25, max_warmup=10) == 0


def test_a_leak_whose_steps_vary_by_a_fifth_has_no_warm_up() -> None:
    mib = 1024.0 * 1024.0
    steps = np.array([2.08, 1.66, 1.93, 1.71, 2.02, 1.80, 1.95]) * mib
    y = 151.3 * mib + np.concatenate([[0.0], np.cumsum(steps)])

    assert detect_warmup(cycles(8), y, scale_floor=2048.0, max_warmup=4) == 0


def test_warm_up_before_a_leak_is_still_set_aside() -> None:
    y = 8.0 * 1024 + 100.0 * cycles(20)
    y[:3] = [0.0, 4096.0, 7000.0]

    assert detect_warmup(cycles(20), y, scale_floor=256.0, max_warmup=10) == 3


def test_warm_up_never_exceeds_its_limit() -> None:
    y = np.full(20, 100.0)
    y[:8] = 0.0

    assert detect_warmup(cycles(20), y, scale_floor=0.25, max_warmup=6) == 6


def values(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=np.float64)


NOISY_PLATEAU = values(
    "298 303 331 345 355 346 359 358 344 356 373 339 354 346 380 351 360 358 363 "
    "374 383 357"
)
"""GC objects of a real run (cycles 9-30) while a cache of 200 entries stops
filling, with a working set of 0-50 objects kept each cycle on top."""


def test_growth_that_stops_is_a_plateau() -> None:
    x = cycles(30)
    y = np.minimum(x * 10, 150.0)

    assert plateau_start(x, y, min_growth=0.5, min_points=5) is not None


def test_growth_that_goes_on_is_no_plateau() -> None:
    x = cycles(30)
    y = x * 10

    assert plateau_start(x, y, min_growth=0.5, min_points=5) is None


def test_a_plateau_is_found_though_noise_tilts_its_tail() -> None:
    x = cycles(len(NOISY_PLATEAU)) + 8

    assert plateau_start(x, NOISY_PLATEAU, min_growth=0.5, min_points=5) == 3


def test_growth_that_slows_but_goes_on_is_no_plateau() -> None:
    x = cycles(30)
    y = np.where(x < 10, 10 * x, 90 + (x - 9))

    assert plateau_start(x, y, min_growth=0.5, min_points=5) is None


def test_exact_deltas_must_each_be_at_least_one() -> None:
    assert strictly_increasing(np.array([1.0, 2.0, 4.0, 5.0]))
    assert not strictly_increasing(np.array([1.0, 2.0, 2.0, 5.0]))


def test_the_chance_of_a_strict_order_shrinks_factorially() -> None:
    assert ordering_p_value(5) == pytest.approx(1 / 120)

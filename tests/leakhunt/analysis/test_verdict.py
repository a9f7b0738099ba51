"""The verdict on synthetic series: leaks found, healthy shapes left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leakhunt.analysis.signals import BYTES, SignalRegistry, SignalSpec
from leakhunt.analysis.thresholds import Thresholds
from leakhunt.analysis.verdict import EXACT_DELTAS, THEIL_SEN, attach_details, judge
from leakhunt.report.model import (
    MEMORY_GROWTH,
    OBJECT_GROWTH,
    THREAD_LEAK,
    WATCH_LEAK,
)


def traced(cycles: int, *, leak: float, seed: int, warmup: float = 0.0) -> list[float]:
    """Traced bytes as measured on clean code, plus a leak of ``leak`` per cycle."""
    rng = np.random.default_rng(seed)
    values = 50_000 + rng.normal(0, 490, cycles) + leak * np.arange(cycles)
    values[:3] -= warmup * np.array([1.0, 0.6, 0.3])
    return [float(value) for value in values]


def test_a_flat_series_has_no_findings() -> None:
    assert judge({"threads": [4.0] * 30, "traced_bytes": [1e6] * 30}) == []


def test_one_kib_per_cycle_in_noise_is_memory_growth_with_an_interval() -> None:
    findings = judge({"traced_bytes": traced(30, leak=1024, seed=1)})

    (finding,) = findings
    assert finding.kind == MEMORY_GROWTH
    assert finding.unit == BYTES
    assert finding.ci_low is not None
    assert finding.ci_high is not None
    assert finding.ci_low < 1024 < finding.ci_high
    assert finding.evidence["method"] == THEIL_SEN
    assert "B per cycle (95% CI" in finding.message


@pytest.mark.parametrize("seed", range(20))
def test_noise_and_warm_up_without_a_leak_pass(seed: int) -> None:
    series = {"traced_bytes": traced(30, leak=0, seed=seed, warmup=5000)}

    assert judge(series) == []


def test_warm_up_is_detected_and_reported_in_the_finding() -> None:
    values = traced(30, leak=2048, seed=3, warmup=40_000)

    (finding,) = judge({"traced_bytes": values})

    assert finding.evidence["warmup"] in {1, 2, 3}
    assert "warm-up" in finding.message


def test_a_thread_per_cycle_is_a_thread_leak_at_5_cycles() -> None:
    (finding,) = judge({"threads": [3.0, 4.0, 5.0, 6.0, 7.0]})

    assert finding.kind == THREAD_LEAK
    assert finding.evidence["method"] == EXACT_DELTAS
    assert finding.per_cycle == 1
    assert finding.confidence == pytest.approx(1 - 1 / 120)


def test_four_cycles_are_not_enough_for_a_thread_verdict() -> None:
    assert judge({"threads": [3.0, 4.0, 5.0, 6.0]}) == []


def test_exact_rule_needs_every_delta_to_rise() -> None:
    assert judge({"threads": [3.0, 4.0, 4.0, 5.0, 6.0]}) == []


def test_a_pool_that_grows_to_its_size_then_stays_is_not_a_thread_leak() -> None:
    threads = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0] + [10.0] * 21

    assert judge({"threads": threads}) == []


def test_a_cache_that_plateaus_is_not_a_leak_even_when_it_fills_slowly() -> None:
    # 200 entries at 12 per cycle: still filling past the warm-up limit.
    entries = [min(200.0, 12.0 * (cycle + 1)) for cycle in range(30)]

    assert judge({"objects.myop.CacheEntry": entries}) == []


@pytest.mark.parametrize("per_cycle", [8, 9])
def test_a_cache_filling_by_the_same_step_until_full_is_not_a_leak(
    per_cycle: int,
) -> None:
    # Every delta rises until cycle 25 or 23: the exact rules see a leak
    # until the plateau after it is taken into account.
    entries = [min(200.0, per_cycle * (cycle + 1)) for cycle in range(30)]

    assert judge({"objects.myop.CacheEntry": entries}) == []


def test_a_cache_that_stops_filling_in_noise_is_not_a_leak() -> None:
    # GC objects of a real run: a cache fills until cycle 12, then a working
    # set of 0-50 objects comes and goes on top of it.
    objects = "0 17 73 113 115 177 236 271 298 303 331 345 355 346 359 358 344 356"
    objects += " 373 339 354 346 380 351 360 358 363 374 383 357"

    assert judge({"gc_objects": [float(n) for n in objects.split()]}) == []


def test_a_count_that_rises_fast_then_slowly_is_still_a_leak() -> None:
    threads = [10.0 * cycle for cycle in range(10)] + [90.0 + n for n in range(20)]

    (finding,) = judge({"threads": threads})

    assert finding.kind == THREAD_LEAK


def test_a_leak_that_continues_is_not_mistaken_for_a_plateau() -> None:
    objects = [5.0 * cycle for cycle in range(30)]

    (finding,) = judge({"objects.myop.Pod": objects})

    assert finding.kind == OBJECT_GROWTH
    assert finding.per_cycle == 5


def test_a_leak_of_one_object_every_other_cycle_is_found_statistically() -> None:
    objects = [100.0 + cycle // 2 for cycle in range(30)]

    findings = judge(
        {"gc_objects": objects}, thresholds=Thresholds(min_growth={"gc_objects": 0.25})
    )

    (finding,) = findings
    assert finding.evidence["method"] == THEIL_SEN
    assert finding.per_cycle == pytest.approx(0.5)


def test_growth_below_the_minimum_is_not_a_leak() -> None:
    assert judge({"traced_bytes": traced(30, leak=64, seed=5)}) == []


def test_a_caller_can_raise_the_minimum_growth_with_units() -> None:
    series = {"traced_bytes": traced(30, leak=1024, seed=6)}

    assert (
        judge(series, thresholds=Thresholds(min_growth={"traced_bytes": "4 KiB"})) == []
    )
    assert judge(series) != []


def test_an_explicit_warmup_sets_aside_the_same_cycles_for_every_signal() -> None:
    threads = [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    (finding,) = judge({"threads": threads}, warmup=5)

    assert finding.evidence["warmup"] == 5
    assert finding.evidence["cycles_judged"] == 5


def test_cycles_where_a_signal_was_not_measured_are_skipped() -> None:
    values = [math.nan, math.nan, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]

    (finding,) = judge({"objects.myop.Late": values})

    assert finding.evidence["cycles_judged"] == 6
    assert finding.evidence["warmup"] == 2


def test_signals_nobody_registered_are_kept_out_of_the_verdict() -> None:
    assert judge({"mystery_signal": [float(i) for i in range(30)]}) == []


def test_a_newly_registered_signal_is_judged_with_its_kind() -> None:
    registry = SignalRegistry(
        [SignalSpec("watches_open_server", WATCH_LEAK, "count", True, 0.5, "watches")]
    )

    (finding,) = judge(
        {"watches_open_server": [0.0, 1.0, 2.0, 3.0, 4.0]}, signals=registry
    )

    assert finding.kind == WATCH_LEAK


def test_unjudged_signals_never_become_findings() -> None:
    assert judge({"traced_peak_bytes": traced(30, leak=4096, seed=2)}) == []


def test_findings_list_the_most_specific_kind_first() -> None:
    findings = judge(
        {
            "traced_bytes": traced(30, leak=4096, seed=4),
            "threads": [float(i) for i in range(30)],
            "gc_objects": [float(i) for i in range(30)],
        }
    )

    assert [f.kind for f in findings] == [THREAD_LEAK, OBJECT_GROWTH, MEMORY_GROWTH]


def test_probe_details_are_attached_as_evidence_by_kind() -> None:
    findings = judge({"threads": [1.0, 2.0, 3.0, 4.0, 5.0]})

    attach_details(findings, {"threads": [{"name": "w-1"}], "fds": [{"fd": 9}]})

    assert findings[0].evidence["threads"] == [{"name": "w-1"}]
    assert "fds" not in findings[0].evidence


def test_a_count_that_rises_in_most_cycles_and_never_falls_is_a_leak() -> None:
    # A thread leaked per cycle whose count lags a cycle behind twice.
    series = {"threads": [2, 3, 4, 4, 5, 6, 7, 7, 8, 9]}

    [finding] = judge(series)

    assert finding.kind == "thread-leak"
    assert finding.evidence["method"] == "mostly-rising"


def test_a_count_that_rises_every_other_cycle_is_not_called_on_deltas() -> None:
    series = {"threads": [2, 2, 3, 3, 4, 4, 5, 5, 6, 6]}

    assert all(f.evidence["method"] != "mostly-rising" for f in judge(series))


def test_a_count_that_ever_falls_is_not_called_on_deltas() -> None:
    series = {"fds": [7, 8, 9, 10, 9, 10, 11, 12, 13, 14]}

    assert all(f.evidence["method"] != "mostly-rising" for f in judge(series))

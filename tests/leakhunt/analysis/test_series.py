"""The series recorder holds a run's samples without growing per cycle."""

from __future__ import annotations

import math
import tracemalloc

from leakhunt.analysis.series import SeriesRecorder


def test_recorded_cycles_come_back_in_order() -> None:
    recorder = SeriesRecorder(5)

    for cycle in range(3):
        recorder.record(cycle, {"threads": float(cycle + 1)})

    assert recorder.count == 3
    assert recorder.series() == {"threads": [1.0, 2.0, 3.0]}


def test_a_signal_first_seen_later_is_nan_before() -> None:
    recorder = SeriesRecorder(4)
    recorder.record(0, {"a": 1.0})
    recorder.record(1, {"a": 2.0, "objects.x.Y": 7.0})

    series = recorder.series()

    assert math.isnan(series["objects.x.Y"][0])
    assert series["objects.x.Y"][1] == 7.0


def test_recording_allocates_nothing_per_cycle() -> None:
    recorder = SeriesRecorder(500)
    sample = {f"signal_{i}": float(i) for i in range(20)}
    recorder.record(0, sample)

    tracemalloc.start()
    try:
        recorder.record(1, sample)
        before, _ = tracemalloc.get_traced_memory()
        for cycle in range(2, 500):
            recorder.record(cycle, sample)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # The loop's own iterator and counter are a few dozen bytes, once; a
    # list-based recorder would have grown by about 100 B per cycle.
    assert after - before < 128


def test_recording_past_the_capacity_still_keeps_every_cycle() -> None:
    recorder = SeriesRecorder(2)

    for cycle in range(5):
        recorder.record(cycle, {"a": float(cycle)})

    assert recorder.series() == {"a": [0.0, 1.0, 2.0, 3.0, 4.0]}

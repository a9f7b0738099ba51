"""The Python heap probe: allocated blocks always, tracemalloc when asked."""

from __future__ import annotations

import tracemalloc

from leakhunt.probes.pyheap import HeapProbe


def test_without_tracemalloc_only_allocated_blocks_are_reported() -> None:
    probe = HeapProbe()
    probe.start()
    try:
        values = probe.sample()
    finally:
        probe.stop()

    assert set(values) == {"allocated_blocks"}
    assert not tracemalloc.is_tracing()


def test_allocated_blocks_count_objects_the_gc_does_not_track() -> None:
    probe = HeapProbe()
    probe.start()
    before = probe.sample()["allocated_blocks"]
    held = [bytes(100 + i) for i in range(1000)]
    after = probe.sample()["allocated_blocks"]
    probe.stop()

    assert after - before >= 1000
    assert len(held) == 1000


def test_traced_bytes_see_a_retained_allocation_and_tracing_stops_after() -> None:
    probe = HeapProbe(tracemalloc=True)
    probe.start()
    try:
        before = probe.sample()["traced_bytes"]
        held = bytearray(100_000)
        after = probe.sample()["traced_bytes"]
    finally:
        probe.stop()

    assert after - before >= 100_000
    assert len(held) == 100_000
    assert not tracemalloc.is_tracing()


def test_the_peak_covers_only_the_cycle_after_rearm() -> None:
    probe = HeapProbe(tracemalloc=True)
    probe.start()
    try:
        transient = bytearray(2_000_000)
        del transient
        first = probe.sample()["traced_peak_bytes"]
        probe.rearm()
        second = probe.sample()["traced_peak_bytes"]
    finally:
        probe.stop()

    assert first >= 2_000_000
    assert second < 1_000_000


def test_tracing_started_by_someone_else_is_left_running() -> None:
    tracemalloc.start()
    try:
        probe = HeapProbe(tracemalloc=True)
        probe.start()
        assert "traced_bytes" in probe.sample()
        probe.stop()
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()

"""The default probe set."""

from __future__ import annotations

from leakhunt.probes.base import Probe, default_probes
from leakhunt.probes.pyheap import HeapProbe


def test_the_default_probes_follow_the_protocol_and_read_the_heap_first() -> None:
    probes = default_probes()

    assert [probe.name for probe in probes] == ["pyheap", "process", "objects"]
    assert all(isinstance(probe, Probe) for probe in probes)


def test_tracemalloc_is_off_unless_asked_for() -> None:
    heap = default_probes()[0]
    traced = default_probes(tracemalloc=True)[0]

    assert isinstance(heap, HeapProbe)
    assert isinstance(traced, HeapProbe)
    assert heap.tracemalloc is False
    assert traced.tracemalloc is True

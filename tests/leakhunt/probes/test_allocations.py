"""Allocation sites: ranked by growth per cycle, leakhunt's own blocks left out."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import leakhunt
from leakhunt.probes.allocations import AllocationProbe, CodeMap

LEAKHUNT_DIR = str(Path(leakhunt.__file__).parent) + "/"

_KEPT: list[bytes] = []
"""What the leaky workload below keeps, cleared after each test."""

_CACHE: dict[str, bytes] = {}

_OWN: list[CodeMap] = []
"""What leakhunt's own code, called by the workload, keeps."""

CACHE_FILL_CYCLES = range(1, 5)
"""Cycles in which the cache grows: after the first snapshot, before the last."""


@pytest.fixture(autouse=True)
def _forget() -> None:
    _KEPT.clear()
    _CACHE.clear()
    _OWN.clear()


def leak_a_kilobyte() -> None:
    _KEPT.append(bytes(1024 + len(_KEPT)))


def fill_a_cache_for_four_cycles(cycle: int) -> None:
    if cycle in CACHE_FILL_CYCLES:
        _CACHE[f"part-{cycle}"] = bytes(50 * 1024)


def churn() -> None:
    temporary = [bytes(512) for _ in range(200)]
    del temporary


def a_leak_a_cache_and_churn(cycle: int) -> None:
    leak_a_kilobyte()
    fill_a_cache_for_four_cycles(cycle)
    churn()


def _run(
    cycles: int, workload: Callable[[int], None] = a_leak_a_cache_and_churn
) -> dict[str, object]:
    """Run ``workload`` for ``cycles`` cycles under a probe, a snapshot after each."""
    probe = AllocationProbe(code=CodeMap.default(__file__))
    probe.start()
    try:
        for cycle in range(cycles):
            workload(cycle)
            probe.sample()
        return probe.details()
    finally:
        probe.stop()


def test_the_site_that_grows_every_cycle_leads_and_a_filled_cache_is_left_out() -> None:
    # The cache rises by 200 KiB over cycles 1-4 of 8 and then stays: its
    # line fits with R-squared 0.85 at 30 KiB per cycle, so ranking by the
    # slope alone (or by the largest difference) would put it first.
    details = _run(cycles=8)

    sites = details["allocation_sites"]
    assert isinstance(sites, list)
    assert sites
    top = sites[0]
    assert top["where"] == f"{__file__}:{leak_a_kilobyte.__code__.co_firstlineno + 1}"
    assert top["line"] == "_KEPT.append(bytes(1024 + len(_KEPT)))"
    assert 1000 <= top["bytes_per_cycle"] <= 1200
    assert top["blocks_per_cycle"] == pytest.approx(1.0, abs=0.2)
    lines = [site["line"] for site in sites]
    assert '_CACHE[f"part-{cycle}"] = bytes(50 * 1024)' not in lines


def test_a_leak_that_skips_every_other_cycle_still_ranks() -> None:
    def leak_in_odd_cycles(cycle: int) -> None:
        if cycle % 2:
            _KEPT.append(bytes(2048))

    details = _run(cycles=8, workload=leak_in_odd_cycles)

    sites = details["allocation_sites"]
    assert isinstance(sites, list)
    assert [site["line"] for site in sites[:1]] == ["_KEPT.append(bytes(2048))"]
    assert 900 <= sites[0]["bytes_per_cycle"] <= 1200


def test_the_origin_is_the_line_of_the_code_under_test_that_asked() -> None:
    details = _run(cycles=8)

    origins = details["allocation_origins"]
    assert isinstance(origins, list)
    assert origins
    assert origins[0]["file"] == __file__
    assert origins[0]["source"] == "_KEPT.append(bytes(1024 + len(_KEPT)))"


def test_tracing_waits_for_the_warm_up_and_stops_with_the_details() -> None:
    probe = AllocationProbe(start_after=2, code=CodeMap.default(__file__))
    probe.start()
    leak_a_kilobyte()
    probe.sample()
    assert not tracemalloc.is_tracing()

    for _ in range(4):
        leak_a_kilobyte()
        probe.sample()
    assert tracemalloc.is_tracing()

    details = probe.details()
    assert not tracemalloc.is_tracing()
    assert details["allocation_snapshots"] == 3


def test_what_leakhunt_keeps_through_a_library_is_never_a_site() -> None:
    # CodeMap.default() is leakhunt's code calling pathlib, posixpath and
    # sysconfig: the blocks are allocated in the standard library, with
    # leakhunt's frame further out and this test's frames beyond it.
    def keep_code_maps_and_leak(cycle: int) -> None:
        _OWN.extend(CodeMap.default(__file__) for _ in range(5))
        leak_a_kilobyte()

    details = _run(cycles=6, workload=keep_code_maps_and_leak)

    sites = details["allocation_sites"]
    assert isinstance(sites, list)
    assert [site["line"] for site in sites] == [
        "_KEPT.append(bytes(1024 + len(_KEPT)))"
    ]
    for site in sites:
        files = [frame["file"] for frame in site["traceback"]]
        assert not any(name.startswith(LEAKHUNT_DIR) for name in files), files


def test_fewer_than_three_snapshots_rank_nothing() -> None:
    details = _run(cycles=2)

    assert details["allocation_sites"] == []

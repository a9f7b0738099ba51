"""Allocation sites: ranked by growth per cycle, leakhunt's own blocks left out."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

import leakhunt
from leakhunt.probes.allocations import AllocationProbe, CodeMap

LEAKHUNT_DIR = str(Path(leakhunt.__file__).parent) + "/"

_KEPT: list[bytes] = []
"""What the leaky workload below keeps, cleared after each test."""

_CACHE: dict[str, bytes] = {}


@pytest.fixture(autouse=True)
def _forget() -> None:
    _KEPT.clear()
    _CACHE.clear()


def leak_a_kilobyte() -> None:
    _KEPT.append(bytes(1024 + len(_KEPT)))


def fill_a_cache_once() -> None:
    if not _CACHE:
        _CACHE["big"] = bytes(256 * 1024)


def churn() -> None:
    temporary = [bytes(512) for _ in range(200)]
    del temporary


def _run(probe: AllocationProbe, cycles: int) -> dict[str, object]:
    probe.start()
    try:
        for _ in range(cycles):
            leak_a_kilobyte()
            fill_a_cache_once()
            churn()
            probe.sample()
        return probe.details()
    finally:
        probe.stop()


def test_the_site_that_grows_every_cycle_leads_and_a_one_time_cache_is_left_out() -> (
    None
):
    details = _run(AllocationProbe(code=CodeMap.default(__file__)), cycles=6)

    sites = details["allocation_sites"]
    assert isinstance(sites, list)
    assert sites
    top = sites[0]
    assert top["where"] == f"{__file__}:{leak_a_kilobyte.__code__.co_firstlineno + 1}"
    assert top["line"] == "_KEPT.append(bytes(1024 + len(_KEPT)))"
    assert 1000 <= top["bytes_per_cycle"] <= 1200
    assert top["blocks_per_cycle"] == pytest.approx(1.0, abs=0.2)
    assert all("fill_a_cache_once" not in str(site) for site in sites)
    assert all(site["line"] != '_CACHE["big"] = bytes(256 * 1024)' for site in sites)


def test_the_origin_is_the_line_of_the_code_under_test_that_asked() -> None:
    details = _run(AllocationProbe(code=CodeMap.default(__file__)), cycles=5)

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


def test_leakhunts_own_bookkeeping_is_never_a_site() -> None:
    details = _run(AllocationProbe(code=CodeMap.default(__file__)), cycles=5)

    sites = details["allocation_sites"]
    assert isinstance(sites, list)
    for site in sites:
        files = [frame["file"] for frame in site["traceback"]]
        assert not any(name.startswith(LEAKHUNT_DIR) for name in files), files


def test_fewer_than_three_snapshots_rank_nothing() -> None:
    details = _run(AllocationProbe(code=CodeMap.default(__file__)), cycles=2)

    assert details["allocation_sites"] == []

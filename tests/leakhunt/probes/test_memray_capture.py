"""memray captures: leaked sites ranked, and clear notes when there is no capture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import leakhunt
from leakhunt.probes.allocations import CodeMap
from leakhunt.probes.memray_capture import MemrayProbe, read_capture

LEAKHUNT_DIR = str(Path(leakhunt.__file__).parent) + "/"

_KEPT: list[object] = []


def keep_64_kibibytes() -> None:
    _KEPT.append(bytes(64 * 1024))


def keep_what_leakhunt_makes_through_a_library() -> None:
    # CodeMap.default() is leakhunt's code calling pathlib, posixpath and
    # sysconfig: allocated in the standard library, leakhunt further out.
    for _ in range(50):
        _KEPT.append(CodeMap.default(__file__))


def one_cycle() -> None:
    keep_64_kibibytes()
    keep_what_leakhunt_makes_through_a_library()


def _capture(path: Path, cycles: int) -> dict[str, object]:
    probe = MemrayProbe(path, start_after=1)
    probe.start()
    try:
        for _ in range(cycles):
            # NB: memray misses the frames called from as shallow a frame as
            # the one that started it; the worker's cycles run deeper too.
            one_cycle()
            probe.sample()
        return probe.details()
    finally:
        probe.stop()
        _KEPT.clear()


def test_the_line_that_keeps_memory_leads_the_leaked_sites(tmp_path: Path) -> None:
    details = _capture(tmp_path / "capture.bin", cycles=5)

    memray = details["memray"]
    assert isinstance(memray, dict)
    assert memray["state"] == "complete"
    assert memray["cycles"] == 4

    read = read_capture(Path(str(memray["path"])), cycles=4)
    assert read["note"] is None
    assert read["command"] == f"memray flamegraph --leaks {tmp_path / 'capture.bin'}"
    sites = read["sites"]
    assert isinstance(sites, list)
    assert sites
    line = keep_64_kibibytes.__code__.co_firstlineno + 1
    top = sites[0]
    assert top["where"] == f"{__file__}:{line}"
    assert top["function"] == "keep_64_kibibytes"
    assert top["bytes_per_cycle"] >= 64 * 1024


def test_what_leakhunt_allocates_through_a_library_is_left_out(
    tmp_path: Path,
) -> None:
    details = _capture(tmp_path / "capture.bin", cycles=5)
    memray = details["memray"]
    assert isinstance(memray, dict)

    read = read_capture(Path(str(memray["path"])), cycles=4)

    sites = read["sites"]
    assert isinstance(sites, list)
    assert sites
    for site in sites:
        files = [frame["file"] for frame in site["stack"]]
        assert not any(name.startswith(LEAKHUNT_DIR) for name in files), files


def test_a_capture_cut_short_is_a_note_not_an_error(tmp_path: Path) -> None:
    details = _capture(tmp_path / "capture.bin", cycles=4)
    memray = details["memray"]
    assert isinstance(memray, dict)
    path = Path(str(memray["path"]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])

    read = read_capture(path, cycles=3)

    assert read["sites"] == []
    assert "could not be read" in str(read["note"])
    assert "killed" in str(read["note"])


def test_a_missing_capture_says_the_worker_ended_first(tmp_path: Path) -> None:
    read = read_capture(tmp_path / "never-written.bin", cycles=3)

    assert read["sites"] == []
    assert "missing or empty" in str(read["note"])


def test_without_memray_the_probe_says_so_and_measures_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "memray", None)

    details = _capture(tmp_path / "capture.bin", cycles=3)
    read = read_capture(tmp_path / "capture.bin", cycles=2)

    memray = details["memray"]
    assert isinstance(memray, dict)
    assert memray["state"] == "unavailable"
    assert "not installed" in str(memray["error"])
    assert "not installed" in str(read["note"])

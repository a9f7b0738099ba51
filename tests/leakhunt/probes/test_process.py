"""The process probe: memory, threads, fds and sockets as the OS sees them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from leakhunt.probes.base import Probe
from leakhunt.probes.process import MAX_THREADS_IN_DETAILS, ProcessProbe


@pytest.fixture
def probe() -> Iterator[ProcessProbe]:
    started = ProcessProbe()
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_the_probe_follows_the_protocol(probe: ProcessProbe) -> None:
    assert isinstance(probe, Probe)
    assert probe.name == "process"


def test_a_sample_reports_memory_threads_fds_and_sockets(probe: ProcessProbe) -> None:
    values = probe.sample()

    assert set(values) == {"rss_bytes", "uss_bytes", "threads", "fds", "sockets"}
    assert values["rss_bytes"] > 10 * 2**20
    assert 0 < values["uss_bytes"] <= values["rss_bytes"]
    assert values["threads"] == threading.active_count()


def test_a_new_thread_is_counted_and_listed_with_its_name_and_stack(
    probe: ProcessProbe,
) -> None:
    before = probe.sample()["threads"]
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="reconcile-loop")
    worker.start()
    try:
        after = probe.sample()["threads"]
        details = probe.details()
    finally:
        stop.set()
        worker.join()

    assert after == before + 1
    threads = details["threads"]
    assert isinstance(threads, list)
    (listed,) = threads
    assert listed["name"] == "reconcile-loop"
    assert listed["target"] == "threading.Event.wait"
    assert any("in wait" in line for line in listed["stack"])


def test_new_sockets_are_counted_and_listed_with_their_fds(probe: ProcessProbe) -> None:
    before = probe.sample()
    left, right = socket.socketpair()
    try:
        after = probe.sample()
        details = probe.details()
        fds_open = {left.fileno(), right.fileno()}
    finally:
        left.close()
        right.close()

    assert after["sockets"] == before["sockets"] + 2
    assert after["fds"] == before["fds"] + 2
    fds = details["fds"]
    assert isinstance(fds, list)
    assert {item["fd"] for item in fds} == fds_open
    assert all(str(item["target"]).startswith("socket:") for item in fds)
    sockets = details["sockets"]
    assert isinstance(sockets, list)
    assert len(sockets) == 2
    assert {item["family"] for item in sockets} == {"AF_UNIX"}


def test_thread_details_are_capped_and_the_rest_counted(probe: ProcessProbe) -> None:
    stop = threading.Event()
    workers = [
        threading.Thread(target=stop.wait, name=f"w{i}")
        for i in range(MAX_THREADS_IN_DETAILS + 3)
    ]
    for worker in workers:
        worker.start()
    try:
        details = probe.details()
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    threads = details["threads"]
    assert isinstance(threads, list)
    assert len(threads) == MAX_THREADS_IN_DETAILS
    assert details["threads_omitted"] == 3

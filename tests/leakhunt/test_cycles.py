"""The cycle runner, end to end: real workloads through run_cycles."""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import leakhunt
from leakhunt.cycles import Sample, Sampler, Settle, run_cycles, validate_run
from leakhunt.errors import UsageError
from leakhunt.report.model import (
    FD_LEAK,
    MEMORY_GROWTH,
    OBJECT_GROWTH,
    SOCKET_LEAK,
    THREAD_LEAK,
    Report,
)

QUICK_SETTLE = Settle(thread_wait=0.05)
"""Threads leaked on purpose never exit; do not wait long for them."""


@dataclass
class Leaks:
    """Threads and fds a test leaks on purpose, released when the test ends."""

    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)

    def thread(self, name: str = "leaky-worker") -> threading.Thread:
        """Start a thread that waits until the test ends."""
        thread = threading.Thread(
            target=self.stop.wait, name=f"{name}-{len(self.threads)}", daemon=True
        )
        thread.start()
        self.threads.append(thread)
        return thread

    def fd(self) -> int:
        """Open /dev/null and keep it open until the test ends."""
        fd = os.open(os.devnull, os.O_RDONLY)
        self.fds.append(fd)
        return fd

    def socket(self) -> socket.socket:
        """Open a connected socket pair and keep both ends until the test ends."""
        left, right = socket.socketpair()
        self.sockets.extend([left, right])
        return left

    def release(self) -> None:
        """Stop every leaked thread and close every leaked fd."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for fd in self.fds:
            os.close(fd)
        for end in self.sockets:
            end.close()
        self.sockets.clear()
        self.threads.clear()
        self.fds.clear()


@pytest.fixture
def leaks() -> Iterator[Leaks]:
    """Give a test a place to leak threads and fds that is cleaned up afterwards."""
    holder = Leaks()
    try:
        yield holder
    finally:
        holder.release()


class LeakedRecord:
    """An instance of a user class, leaked one per cycle by a test."""

    def __init__(self, index: int) -> None:
        self.index = index


class CachedEntry:
    """A value in a bounded cache."""

    def __init__(self, key: int) -> None:
        self.key = key
        self.payload = bytes(256)


def kinds(report: Report) -> set[str]:
    return {finding.kind for finding in report.findings}


def signals(report: Report) -> set[str]:
    return {finding.signal for finding in report.findings}


def test_a_workload_that_keeps_nothing_passes() -> None:
    def work() -> None:
        scratch = [LeakedRecord(i) for i in range(500)]
        del scratch

    report = run_cycles(work, cycles=20)

    assert report.verdict == "pass"
    assert report.findings == []
    assert report.cycles == 20


def test_a_no_op_stays_clean_under_tracemalloc_for_many_cycles() -> None:
    report = run_cycles(lambda: None, cycles=80, tracemalloc=True)

    assert report.verdict == "pass", report.findings
    traced = report.series["traced_bytes"]
    # Recording 80 samples must not cost the heap anything once warmed up.
    assert traced[-1] - traced[10] < 256


def test_one_kib_per_cycle_is_memory_growth_under_tracemalloc() -> None:
    held: list[bytes] = []

    report = run_cycles(lambda: held.append(bytes(1024)), cycles=20, tracemalloc=True)

    traced = next(f for f in report.findings if f.signal == "traced_bytes")
    assert traced.kind == MEMORY_GROWTH
    assert 1024 <= traced.per_cycle < 1200
    assert traced.ci_low is not None
    assert traced.ci_low > 900
    assert OBJECT_GROWTH not in kinds(report)


def test_one_kib_per_cycle_is_seen_in_allocated_blocks_without_tracemalloc() -> None:
    held: list[bytes] = []

    report = run_cycles(lambda: held.append(bytes(1024)), cycles=15)

    assert "allocated_blocks" in signals(report)
    assert kinds(report) == {MEMORY_GROWTH}


@pytest.mark.parametrize(
    ("tracemalloc", "signal"), [(False, "allocated_blocks"), (True, "traced_bytes")]
)
def test_256_bytes_per_cycle_are_memory_growth_in_quiet_code(
    tracemalloc: bool, signal: str
) -> None:
    held: list[bytes] = []

    report = run_cycles(
        lambda: held.append(bytes(256)), cycles=20, tracemalloc=tracemalloc
    )

    finding = next(f for f in report.findings if f.signal == signal)
    assert finding.kind == MEMORY_GROWTH


def test_one_object_per_cycle_is_object_growth_naming_the_class_within_8_cycles() -> (
    None
):
    held: list[LeakedRecord] = []

    report = run_cycles(lambda: held.append(LeakedRecord(len(held))), cycles=8)

    name = f"objects.{LeakedRecord.__module__}.{LeakedRecord.__qualname__}"
    finding = next(f for f in report.findings if f.signal == name)
    assert finding.kind == OBJECT_GROWTH
    assert finding.per_cycle == 1
    assert "gc_objects" in signals(report)
    grown = finding.evidence["grown_types"]
    assert isinstance(grown, list)
    assert any(item["type"] == name.removeprefix("objects.") for item in grown)


def test_a_thread_per_cycle_is_a_thread_leak_at_5_cycles(leaks: Leaks) -> None:
    report = run_cycles(leaks.thread, cycles=5, settle=QUICK_SETTLE)

    finding = next(f for f in report.findings if f.kind == THREAD_LEAK)
    assert finding.signal == "threads"
    assert finding.per_cycle == 1
    threads = finding.evidence["threads"]
    assert isinstance(threads, list)
    assert {t["name"] for t in threads} >= {"leaky-worker-0", "leaky-worker-4"}
    assert any("wait" in line for line in threads[0]["stack"])


def test_a_thread_that_exits_after_stop_is_not_a_leak() -> None:
    def work() -> None:
        done = threading.Event()
        worker = threading.Thread(target=done.wait, args=(5,))
        worker.start()
        # Stop without joining: the settle step waits for it to end.
        done.set()

    report = run_cycles(work, cycles=8)

    assert THREAD_LEAK not in kinds(report)


def test_an_fd_per_cycle_is_an_fd_leak_naming_the_target(leaks: Leaks) -> None:
    report = run_cycles(leaks.fd, cycles=6)

    finding = next(f for f in report.findings if f.kind == FD_LEAK)
    assert finding.signal == "fds"
    fds = finding.evidence["fds"]
    assert isinstance(fds, list)
    assert {item["target"] for item in fds} == {"/dev/null"}
    assert len(fds) == 6


def test_a_socket_per_cycle_is_a_socket_leak_listing_its_endpoints(
    leaks: Leaks,
) -> None:
    report = run_cycles(leaks.socket, cycles=6)

    finding = next(f for f in report.findings if f.kind == SOCKET_LEAK)
    assert finding.signal == "sockets"
    assert finding.per_cycle == 2
    sockets = finding.evidence["sockets"]
    assert isinstance(sockets, list)
    assert len(sockets) == 12
    assert {item["family"] for item in sockets} == {"AF_UNIX"}


def test_a_cache_that_fills_to_200_entries_and_stops_passes() -> None:
    cache: dict[int, CachedEntry] = {}

    def fill() -> None:
        for _ in range(25):
            if len(cache) < 200:
                cache[len(cache)] = CachedEntry(len(cache))

    report = run_cycles(fill, cycles=30, tracemalloc=True)

    assert len(cache) == 200
    assert report.verdict == "pass", [f.message for f in report.findings]
    name = f"objects.{CachedEntry.__module__}.{CachedEntry.__qualname__}"
    assert report.series[name][-1] == 200


@pytest.mark.parametrize(
    ("per_cycle", "tracemalloc"), [(8, False), (8, True), (10, True)]
)
def test_a_cache_still_filling_past_half_the_run_passes(
    per_cycle: int, tracemalloc: bool
) -> None:
    cache: dict[int, CachedEntry] = {}

    def fill() -> None:
        # 200 entries at 8 or 10 per cycle: full at cycle 25 or 20 of 30,
        # long after the most a detected warm-up may set aside.
        for _ in range(per_cycle):
            if len(cache) < 200:
                cache[len(cache)] = CachedEntry(len(cache))

    report = run_cycles(fill, cycles=30, tracemalloc=tracemalloc)

    name = f"objects.{CachedEntry.__module__}.{CachedEntry.__qualname__}"
    full = 200 // per_cycle
    assert report.series[name][full - 2 : full + 1] == [200 - per_cycle, 200, 200]
    assert report.verdict == "pass", [f.message for f in report.findings]


def test_a_noisy_but_flat_workload_passes() -> None:
    rng = random.Random(20)
    kept: list[Any] = []

    def noisy() -> None:
        scratch = [LeakedRecord(i) for i in range(rng.randint(0, 5000))]
        blob = bytearray(rng.randint(0, 1 << 20))
        kept[:] = [LeakedRecord(i) for i in range(rng.randint(0, 200))]
        del scratch, blob

    report = run_cycles(noisy, cycles=30, tracemalloc=True)

    assert report.verdict == "pass", [f.message for f in report.findings]
    objects = report.series["gc_objects"]
    assert max(objects) - min(objects) > 20


def test_a_callable_that_raises_stops_the_run_and_keeps_the_samples() -> None:
    calls = 0

    def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise ValueError("the controller could not start")

    report = run_cycles(flaky, cycles=10)

    assert report.verdict == "fail"
    assert report.cycles == 3
    assert report.error is not None
    assert report.error["cycle"] == 4
    assert report.error["stage"] == "the cycle"
    assert report.error["type"] == "builtins.ValueError"
    assert "the controller could not start" in str(report.error["traceback"])
    assert "in flaky" in str(report.error["traceback"])
    assert len(report.series["rss_bytes"]) == 3


def test_on_sample_is_called_after_every_cycle_with_its_signals() -> None:
    seen: list[tuple[int, int]] = []

    def on_sample(cycle: int, sample: Sample) -> None:
        seen.append((cycle, int(sample.signals["threads"])))

    run_cycles(lambda: None, cycles=4, on_sample=on_sample)

    assert [cycle for cycle, _ in seen] == [1, 2, 3, 4]
    assert all(threads >= 1 for _, threads in seen)


@pytest.mark.parametrize("cycles", [2, 0, -5])
def test_fewer_than_3_cycles_is_a_usage_error_naming_the_range(cycles: int) -> None:
    with pytest.raises(UsageError, match=r"at least 3 cycles .* got "):
        run_cycles(lambda: None, cycles=cycles)


@pytest.mark.parametrize(
    ("cycles", "shown"), [("10", r"'10' \(str\)"), (3.0, r"3.0 \(float\)")]
)
def test_cycles_that_are_not_a_whole_number_are_refused_as_such(
    cycles: object, shown: str
) -> None:
    with pytest.raises(UsageError, match=rf"cycles as a whole number .* got {shown}"):
        run_cycles(lambda: None, cycles=cycles)  # type: ignore[arg-type]


class Broken:
    """Something passed where a probe was expected: it cannot sample."""

    name = "broken"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"thresholds": {"alpha": 0.1}}, r"Thresholds\(\*\*\{'alpha': 0.1\}\)"),
        ({"tracemalloc": "yes"}, r"tracemalloc=True or False, got 'yes' \(str\)"),
        ({"warmup": 2.5}, r"warmup as a whole number of cycles.* got 2.5"),
        ({"signals": {}}, r"signals=leakhunt.default_signals\(\).* got \{\}"),
        ({"settle": 0.5}, r"settle=leakhunt.Settle\(...\), got 0.5"),
        ({"probes": Broken()}, r"probes as a list.* got <.*Broken"),
        ({"probes": [Broken()]}, r"lacks start, sample, details, stop"),
        ({"on_sample": "print"}, r"on_sample as a function of \(cycle, sample\)"),
        ({"meta": ["x"]}, r"meta as a dict"),
    ],
)
def test_an_option_of_the_wrong_type_is_refused_before_the_first_cycle(
    options: dict[str, Any], message: str
) -> None:
    calls: list[int] = []

    with pytest.raises(UsageError, match=message):
        run_cycles(lambda: calls.append(1), cycles=5, **options)

    assert calls == []


def test_something_that_cannot_be_called_is_refused_up_front() -> None:
    with pytest.raises(UsageError, match=r"a callable to run each cycle.* got 42"):
        run_cycles(42, cycles=5)  # type: ignore[arg-type]


class FailingProbe:
    """A probe whose sample() breaks on its third reading."""

    name = "failing"

    def __init__(self) -> None:
        self.readings = 0

    def start(self) -> None:
        """Nothing to set up."""

    def sample(self) -> dict[str, float]:
        self.readings += 1
        if self.readings == 3:
            raise OSError("the metrics endpoint went away")
        return {"threads": 1.0}

    def details(self) -> dict[str, object]:
        return {}

    def stop(self) -> None:
        """Nothing to release."""


def test_a_probe_that_raises_stops_the_run_and_keeps_the_samples() -> None:
    report = run_cycles(lambda: None, cycles=10, probes=[FailingProbe()])

    assert report.verdict == "fail"
    assert report.cycles == 2
    assert report.series["threads"] == [1.0, 1.0]
    assert report.error is not None
    assert report.error["cycle"] == 3
    assert report.error["stage"] == "sampling"
    assert "the metrics endpoint went away" in str(report.error["traceback"])
    assert "in sample" in str(report.error["traceback"])


def test_an_on_sample_that_raises_is_recorded_after_its_sample_is_kept() -> None:
    def on_sample(cycle: int, sample: Sample) -> None:
        if cycle == 4:
            raise KeyError("progress bar")

    report = run_cycles(lambda: None, cycles=10, on_sample=on_sample)

    assert report.cycles == 4
    assert len(report.series["rss_bytes"]) == 4
    assert report.error is not None
    assert (report.error["cycle"], report.error["stage"]) == (4, "on_sample")


@pytest.mark.parametrize("warmup", [10, 12, 8, -1])
def test_a_warmup_that_leaves_too_few_cycles_is_a_usage_error(warmup: int) -> None:
    with pytest.raises(UsageError, match=r"warm-up between 0 and 7 for 10 cycles"):
        validate_run(10, warmup)


def test_an_explicit_warmup_is_reported_and_applied() -> None:
    held: list[LeakedRecord] = []

    report = run_cycles(lambda: held.append(LeakedRecord(0)), cycles=10, warmup=4)

    assert report.warmup == 4
    finding = next(f for f in report.findings if f.signal == "gc_objects")
    assert finding.evidence["warmup"] == 4
    assert finding.evidence["cycles_judged"] == 6


def test_the_sampler_can_be_driven_on_its_own_and_samples_round_trip() -> None:
    sampler = Sampler(settle=QUICK_SETTLE)
    sampler.start()
    try:
        first = sampler.take()
        second = sampler.take()
    finally:
        sampler.stop()

    assert (first.cycle, second.cycle) == (1, 2)
    assert {"rss_bytes", "threads", "fds", "gc_objects"} <= set(second.signals)
    assert Sample.from_dict(second.to_dict()) == second


def test_the_public_api_is_reexported_from_the_package() -> None:
    assert leakhunt.run_cycles is run_cycles
    assert leakhunt.Sampler is Sampler
    assert leakhunt.Report is Report


def test_a_kubernetes_model_kept_per_cycle_is_named_by_its_type() -> None:
    from kubernetes import client

    held: list[client.V1Pod] = []

    def cache_a_pod() -> None:
        meta = client.V1ObjectMeta(name=f"pod-{len(held)}", namespace="default")
        held.append(client.V1Pod(metadata=meta))

    report = run_cycles(cache_a_pod, cycles=8)

    assert {
        "objects.kubernetes.client.models.v1_pod.V1Pod",
        "objects.kubernetes.client.models.v1_object_meta.V1ObjectMeta",
    } <= signals(report)

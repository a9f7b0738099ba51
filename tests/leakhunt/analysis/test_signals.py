"""The signal registry: each series maps to a finding kind, unit and minimum growth."""

from __future__ import annotations

from leakhunt.analysis.signals import (
    COUNT,
    SignalRegistry,
    SignalSpec,
    default_signals,
)
from leakhunt.analysis.verdict import judge
from leakhunt.report.model import (
    FD_LEAK,
    MEMORY_GROWTH,
    OBJECT_GROWTH,
    SOCKET_LEAK,
    THREAD_LEAK,
    WATCH_LEAK,
)


def spec_of(registry: SignalRegistry, signal: str) -> SignalSpec:
    spec = registry.lookup(signal)
    assert spec is not None, f"no entry for {signal}"
    return spec


def test_every_builtin_probe_signal_has_a_kind() -> None:
    registry = default_signals()
    expected = {
        "rss_bytes": MEMORY_GROWTH,
        "uss_bytes": MEMORY_GROWTH,
        "traced_bytes": MEMORY_GROWTH,
        "allocated_blocks": MEMORY_GROWTH,
        "gc_objects": OBJECT_GROWTH,
        "objects.kubernetes.client.models.v1_pod.V1Pod": OBJECT_GROWTH,
        "threads": THREAD_LEAK,
        "fds": FD_LEAK,
        "sockets": SOCKET_LEAK,
    }

    for signal, kind in expected.items():
        spec = registry.lookup(signal)
        assert spec is not None, signal
        assert spec.kind == kind


def resident(kib_steps: str) -> list[float]:
    """Resident memory of 120 MiB plus the KiB of each cycle in ``kib_steps``."""
    return [120 * 2**20 + 1024 * float(kib) for kib in kib_steps.split()]


def test_resident_memory_reaching_new_highs_in_rare_steps_is_not_a_leak() -> None:
    # A real clean run whose transient buffers of 0-512 KiB, freed every
    # cycle, now and then push the heap's high-water mark up.
    rss = resident(
        "0 0 0 0 0 0 4 16 16 16 16 16 20 20 20 20 20 20 20 20 72 72 72 72 72 72 "
        "80 88 88 88"
    )

    assert judge({"rss_bytes": rss}) == []


def test_resident_memory_growing_by_a_page_and_more_each_cycle_is_a_leak() -> None:
    rss = resident(" ".join(str(5 * cycle) for cycle in range(30)))

    (finding,) = judge({"rss_bytes": rss})

    assert finding.kind == MEMORY_GROWTH


def test_unique_memory_is_reported_but_never_judged() -> None:
    # USS jumps by megabytes when processes sharing our libraries come and go.
    uss = resident(" ".join(str(1024 * cycle) for cycle in range(30)))

    assert judge({"uss_bytes": uss}) == []


def test_counts_are_judged_on_exact_deltas_and_bytes_are_not() -> None:
    registry = default_signals()

    assert spec_of(registry, "threads").integer
    assert not spec_of(registry, "rss_bytes").integer


def test_an_exact_name_wins_over_a_prefix_and_a_longer_prefix_over_a_shorter() -> None:
    registry = default_signals()
    registry.register(SignalSpec("objects.myop.", OBJECT_GROWTH, COUNT, True, 3, "x"))
    registry.register(
        SignalSpec("objects.myop.Pinned", OBJECT_GROWTH, COUNT, True, 9, "y")
    )

    assert spec_of(registry, "objects.myop.Cache").min_growth == 3
    assert spec_of(registry, "objects.myop.Pinned").min_growth == 9
    assert spec_of(registry, "objects.other.Cache").min_growth == 0.5


def test_registering_a_new_signal_is_one_entry() -> None:
    registry = default_signals()

    registry.register(
        SignalSpec("watches_open_server", WATCH_LEAK, COUNT, True, 0.5, "open watches")
    )

    spec = registry.lookup("watches_open_server")
    assert spec is not None
    assert spec.kind == WATCH_LEAK
    assert registry.lookup("unknown") is None


def test_each_default_registry_is_a_fresh_object() -> None:
    first = default_signals()
    first.register(SignalSpec("extra", WATCH_LEAK, COUNT, True, 0.5, "extra"))

    assert default_signals().lookup("extra") is None

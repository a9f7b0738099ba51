"""The signal registry: each series maps to a finding kind, unit and minimum growth."""

from __future__ import annotations

from leakhunt.analysis.signals import (
    COUNT,
    SignalRegistry,
    SignalSpec,
    default_signals,
)
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


def test_minimum_growth_follows_the_measured_noise_of_each_signal() -> None:
    registry = default_signals()

    assert spec_of(registry, "rss_bytes").min_growth == 1024
    assert spec_of(registry, "traced_bytes").min_growth == 256
    assert spec_of(registry, "objects.x.Y").min_growth == 0.5


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

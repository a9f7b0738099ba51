"""What the attribution pass costs next to screening, and how fast a chain is found.

Two figures, each printed side by side with what it is compared to:

1. ``soak``: one ``run_soak`` of the leaky ``informer_registry`` controller
   against the simulator. Screening runs ``--cycles`` cycles with the cheap
   probes; the attribution pass that screening triggers runs its warm-up
   plus ``--deep-cycles`` cycles under memray and tracemalloc, then finds
   the retention chains. Printed: seconds per cycle of each pass and their
   ratio, and what the snapshots and the chain search took.
2. ``heap``: a heap of about ``--heap`` GC-tracked objects (a registry of
   informers holding pods, plus filler that is reachable but holds
   nothing); the time :func:`find_chains` takes to name the holder of one
   pod, then of one pod per informer (as many targets as types one pass
   explains), next to ``objgraph.find_backref_chain`` on the same heap; and
   what the retention probe costs per cycle on that heap (counting every
   type and remembering the ids of one type's instances).

    python benchmarks/attribution.py [soak|heap|all] [--cycles N]
        [--objects N] [--deep-cycles N] [--heap N]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import types
from pathlib import Path

import objgraph

from leakhunt.probes.chains import SearchStats, find_chains
from leakhunt.probes.objects import type_name
from leakhunt.probes.retention import RetentionProbe
from leakhunt.soak import SoakOptions, run_soak

TARGET = "harness.controllers.informer_registry:controller"

TARGETS = 12
"""Targets of the many-target search: the number of types one pass explains."""

PROBE_SAMPLES = 3
"""Samples of the retention probe timed on the heap; the median is printed."""


class Pod:
    """A cached object with a little structure, as a model would have."""

    def __init__(self, number: int) -> None:
        self.name = f"pod-{number}"
        self.spec = {"containers": [{"image": "busybox", "env": [number]}]}


class Cache:
    """An informer's cache."""

    def __init__(self) -> None:
        self.objects: dict[str, Pod] = {}


class Informer:
    """An informer that owns a cache."""

    def __init__(self) -> None:
        self.cache = Cache()


def bench_soak(cycles: int, objects: int, deep_cycles: int) -> None:
    """Screening and attribution of one soak, per cycle, side by side."""
    with tempfile.TemporaryDirectory() as scratch:
        options = SoakOptions(
            target=TARGET,
            cycles=cycles,
            objects=objects,
            deep_cycles=deep_cycles,
            log_dir=Path(scratch),
        )
        report = run_soak(options)

    screening = float(str(report.meta["seconds"]))
    attribution = report.meta.get("attribution")
    if not isinstance(attribution, dict):
        print("screening found no growth; no attribution pass ran")
        return
    traced = int(attribution["warmup"]) + int(attribution["cycles"])
    deep = float(attribution["seconds"])
    per_screening = screening / report.cycles
    per_deep = deep / traced
    search = attribution["retention"]["search"] or {}

    print(f"soak of {TARGET}, {objects} pods")
    print(f"{'pass':<34}{'cycles':>8}{'seconds':>10}{'s/cycle':>10}{'ratio':>8}")
    print(
        f"{'screening (cheap probes)':<34}{report.cycles:>8}{screening:>10.1f}"
        f"{per_screening:>10.2f}{1.0:>8.2f}"
    )
    print(
        f"{'attribution (memray+tracemalloc)':<34}{traced:>8}{deep:>10.1f}"
        f"{per_deep:>10.2f}{per_deep / per_screening:>8.2f}"
    )
    print(
        f"  of which tracemalloc snapshots: "
        f"{attribution['allocation'].get('seconds', 0):.1f} s for "
        f"{attribution['allocation'].get('snapshots', 0)} snapshots; chain search "
        f"{search.get('seconds', 0):.2f} s over {search.get('visited', 0)} objects"
    )
    print(f"  status {attribution['status']}, notes: {attribution['notes'] or 'none'}")


def _heap(size: int) -> tuple[types.ModuleType, list[Pod]]:
    module = types.ModuleType("bench_registry")
    sys.modules[module.__name__] = module
    registry: list[Informer] = []
    module._INFORMERS = registry  # type: ignore[attr-defined]  # built at run time

    # Filler: three GC-tracked objects per entry (a list, a dict, a list),
    # reachable from a module, so that a search has to walk past it.
    filler: list[object] = [
        [{"key": str(n), "values": [n]}] for n in range(max(0, (size - 60_000) // 3))
    ]
    module._FILLER = filler  # type: ignore[attr-defined]  # built at run time
    for _ in range(TARGETS):
        informer = Informer()
        for number in range(1000):
            informer.cache.objects[f"ns/pod-{number}"] = Pod(number)
        registry.append(informer)
    targets = [informer.cache.objects["ns/pod-999"] for informer in registry]
    return module, targets


def bench_heap(size: int) -> None:
    """find_chains next to objgraph.find_backref_chain on the same heap.

    One target, then one per growing type as the attribution pass asks
    (:data:`TARGETS` of them): one walk for find_chains, one search per
    target for objgraph, which stops at the first proper module as its
    documentation suggests.
    """
    module, targets = _heap(size)
    total = len(gc.get_objects())
    rows: list[tuple[int, float, float, int]] = []
    try:
        for count in (1, len(targets)):
            wanted = {
                id(pod): f"Pod{index}" for index, pod in enumerate(targets[:count])
            }
            stats = SearchStats()
            began = time.perf_counter()
            chains = find_chains(wanted, stats=stats)
            ours = time.perf_counter() - began
            assert len(chains) == count, chains

            began = time.perf_counter()
            for pod in targets[:count]:
                found = objgraph.find_backref_chain(pod, objgraph.is_proper_module)
                assert found[0] is module, found[0]
            theirs = time.perf_counter() - began
            rows.append((count, ours, theirs, stats.visited))
        text = chains["Pod0"].text()
        per_sample = _retention_sample_seconds()
    finally:
        del sys.modules[module.__name__]

    print(f"heap of {total:,} GC-tracked objects")
    print(f"{'targets':>8}{'find_chains s':>15}{'objgraph s':>12}{'objgraph/ours':>15}")
    for count, ours, theirs, visited in rows:
        print(
            f"{count:>8}{ours:>15.2f}{theirs:>12.2f}{theirs / ours:>15.2f}"
            f"  (find_chains visited {visited:,})"
        )
    print(f"  chain: {text}")
    print(
        f"retention probe, one sample (count every type, ids of one): "
        f"{per_sample:.2f} s (median of {PROBE_SAMPLES})"
    )


def _retention_sample_seconds() -> float:
    """The median time of one retention probe sample on the current heap."""
    probe = RetentionProbe(focus=(type_name(Pod),))
    probe.start()
    times = []
    try:
        for _ in range(PROBE_SAMPLES):
            began = time.perf_counter()
            probe.sample()
            times.append(time.perf_counter() - began)
    finally:
        probe.stop()
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "which", nargs="?", default="all", choices=("soak", "heap", "all")
    )
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--deep-cycles", type=int, default=8)
    parser.add_argument("--heap", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    if args.which in ("soak", "all"):
        bench_soak(args.cycles, args.objects, args.deep_cycles)
    if args.which in ("heap", "all"):
        bench_heap(args.heap)
    return 0


if __name__ == "__main__":
    sys.exit(main())

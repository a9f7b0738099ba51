"""What one cheap sample costs on a heap of 1M live objects.

In one run, on the same heap: a bare ``gc.get_objects()`` walk (building the
list, and iterating it in Python), the two ways of counting objects per type
(``Counter(map(type, ...))`` at C speed and ``objgraph.typestats``), each
default probe's ``sample()``, the whole cheap sample (every default probe,
no settling), and the settle step (``gc.collect()`` until nothing is freed)
that the cycle runner does before it. Target: the cheap sample within 3x of
the bare walk.

Run: ``.venv/bin/python benchmarks/overhead.py [--objects 1000000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence

import objgraph

from leakhunt.cycles import Sampler, Settle
from leakhunt.probes.base import Probe
from leakhunt.probes.objects import ObjectsProbe
from leakhunt.probes.process import ProcessProbe
from leakhunt.probes.pyheap import HeapProbe


class Node:
    """A live object of the synthetic heap, holding a small list."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.children = [index]


def build_heap(objects: int) -> list[Node]:
    """Build a heap of about ``objects`` GC-tracked objects (a Node and a list each)."""
    return [Node(i) for i in range(objects // 2)]


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def paired_ratio(fn: Callable[[], object], pairs: int) -> list[float]:
    """Time the bare walk and ``fn`` back to back, and return each pair's ratio.

    On a shared machine the load changes between one median and the next;
    pairs taken a few milliseconds apart see the same load.
    """
    ratios = []
    for _ in range(pairs):
        started = time.perf_counter()
        len(gc.get_objects())
        walked = time.perf_counter()
        fn()
        ratios.append((time.perf_counter() - walked) / (walked - started))
    return ratios


def python_walk() -> int:
    count = 0
    for _ in gc.get_objects():
        count += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    """Build the heap, time every step, and print them next to the walk."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    heap = build_heap(args.objects)
    gc.collect()
    live = len(gc.get_objects())
    print(f"heap: {live:,} GC-tracked objects ({len(heap):,} Node + list pairs)\n")

    walk = timed(lambda: len(gc.get_objects()), args.repeat)
    rows: list[tuple[str, float]] = [
        ("bare walk: len(gc.get_objects())", walk),
        (
            "walk in Python: for obj in gc.get_objects()",
            timed(python_walk, args.repeat),
        ),
        (
            "count per type: Counter(map(type, gc.get_objects()))",
            timed(lambda: Counter(map(type, gc.get_objects())), args.repeat),
        ),
        (
            "count per type: objgraph.typestats()",
            timed(
                lambda: objgraph.typestats(shortnames=False), max(1, args.repeat // 2)
            ),
        ),
    ]

    probes: list[Probe] = [HeapProbe(), ProcessProbe(), ObjectsProbe()]
    for probe in probes:
        probe.start()
        rows.append((f"probe {probe.name}.sample()", timed(probe.sample, args.repeat)))

    def cheap_sample() -> None:
        for probe in probes:
            probe.sample()

    rows.append(
        ("one cheap sample (all default probes)", timed(cheap_sample, args.repeat))
    )
    paired = paired_ratio(cheap_sample, args.repeat * 2)
    for probe in probes:
        probe.stop()

    sampler = Sampler(settle=Settle(thread_wait=0.0))
    sampler.start()
    rows.append(("settle + sample (Sampler.take)", timed(sampler.take, args.repeat)))
    sampler.stop()
    rows.append(("gc.collect() once", timed(gc.collect, args.repeat)))

    print(f"{'step':<56}{'median':>10}{'x walk':>9}")
    for name, seconds in rows:
        print(f"{name:<56}{seconds * 1000:>8.1f} ms{seconds / walk:>8.1f}x")
    print(
        f"\ncheap sample / bare walk, timed back to back ({args.repeat * 2} pairs): "
        f"median {statistics.median(paired):.2f}x, "
        f"range {min(paired):.2f}x-{max(paired):.2f}x"
    )
    del heap
    return 0


if __name__ == "__main__":
    sys.exit(main())

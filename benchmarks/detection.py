"""How fast leakhunt's verdict finds leaks, and how often it cries wolf.

Two parts, both in one run:

1. Synthesised series judged directly: clean workloads (flat, noisy,
   warm-up then flat, a cache that plateaus) over many seeds give the
   false-positive rate; leaks of 256 B, 1 KiB, 10 KiB, one object and one
   thread per cycle, on top of the same noise, give the number of cycles
   until the verdict first says "leak". The noise follows what was measured
   on this kind of machine (docs/benchmarks.md, shared measurements):
   tracemalloc wobbles with an sd of ~490 B and steps by 2-3 KB now and then,
   RSS moves in 4 KiB pages and jumps by 8 MiB in the first cycle.
2. Real workloads through ``run_cycles`` with tracemalloc on (fewer runs):
   the same clean shapes, and the leaks, whose series are judged on every
   prefix to find the first cycle with a verdict.

Run: ``.venv/bin/python benchmarks/detection.py [--seeds 100] [--real-runs 5]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from leakhunt.analysis.verdict import judge
from leakhunt.cycles import Settle, run_cycles
from leakhunt.report.model import MEMORY_GROWTH, OBJECT_GROWTH, THREAD_LEAK

Series = dict[str, list[float]]

TRACED_SD = 490.0
"""Standard deviation of tracemalloc's traced bytes on clean code."""

EARLY_STEP_RATE = 0.2
LATE_STEP_RATE = 0.01
EARLY_CYCLES = 10
"""Traced bytes step by 2-3 KB when a stdlib cache fills or a dict resizes:
often in the first cycles, rarely later."""

PAGE = 4096.0


def clean_series(shape: str, cycles: int, rng: np.random.Generator) -> Series:
    """Return one clean run's signals in one of the four clean shapes."""
    x = np.arange(cycles, dtype=np.float64)
    noisy = shape != "flat"

    traced = np.full(cycles, 2.0e6)
    rss = np.full(cycles, 120.0 * 2**20)
    objects = np.full(cycles, 150_000.0)
    if noisy:
        traced += rng.normal(0, TRACED_SD, cycles)
        rate = np.where(x < EARLY_CYCLES, EARLY_STEP_RATE, LATE_STEP_RATE)
        steps = rng.random(cycles) < rate
        traced += np.cumsum(steps * rng.uniform(2000, 3000, cycles))
        rss += PAGE * rng.choice([-1, 0, 0, 0, 0, 0, 1], cycles)
        objects += rng.integers(-40, 41, cycles)

    if shape == "warm-up":
        ramp = np.array([5000.0, 3000.0, 1500.0])
        traced[:3] -= ramp
        rss[1:] += 8 * 2**20
        objects[:3] -= np.array([900.0, 400.0, 100.0])

    cache = np.zeros(cycles)
    if shape == "plateau":
        per_cycle = rng.integers(10, 26)
        cache = np.minimum(200.0, per_cycle * (x + 1))
        traced += cache * 330.0
        objects += cache
        rss += PAGE * np.floor(cache * 330.0 / PAGE)

    return {
        "traced_bytes": traced.tolist(),
        "rss_bytes": rss.tolist(),
        "gc_objects": objects.tolist(),
        "objects.myop.CacheEntry": cache.tolist(),
        "threads": [3.0] * cycles,
        "fds": [9.0] * cycles,
    }


def leaky_series(leak: str, cycles: int, rng: np.random.Generator) -> Series:
    """Return a noisy clean run with one leak added from the first cycle."""
    series = clean_series("warm-up", cycles, rng)
    x = np.arange(cycles, dtype=np.float64) + 1
    traced = np.asarray(series["traced_bytes"])
    if leak.endswith("B"):
        size = {"256 B": 256, "1 KiB": 1024, "10 KiB": 10240}[leak]
        # A retained bytes object also costs its header and a list slot.
        traced += (size + 41) * x
    elif leak == "1 object":
        series["objects.myop.Record"] = x.tolist()
        series["gc_objects"] = (np.asarray(series["gc_objects"]) + x).tolist()
        traced += 72 * x
    else:
        series["threads"] = (np.asarray(series["threads"]) + x).tolist()
    series["traced_bytes"] = traced.tolist()
    return series


LEAK_SIGNAL = {
    "256 B": ("traced_bytes", MEMORY_GROWTH),
    "1 KiB": ("traced_bytes", MEMORY_GROWTH),
    "10 KiB": ("traced_bytes", MEMORY_GROWTH),
    "1 object": ("objects.myop.Record", OBJECT_GROWTH),
    "1 thread": ("threads", THREAD_LEAK),
}


def cycles_to_detect(
    series: Mapping[str, Sequence[float]], signal: str, kind: str
) -> int | None:
    """Return the first cycle count at which ``signal`` is judged a leak."""
    values = series[signal]
    for cycles in range(3, len(values) + 1):
        findings = judge({signal: values[:cycles]})
        if any(f.kind == kind for f in findings):
            return cycles
    return None


def synthetic(seeds: int, cycles: int) -> None:
    """Print the synthetic false-positive rates and detection speeds.

    "earlier verdict" counts clean runs that a verdict taken after 8, 12, ...
    cycles would have flagged: the cost of judging early and often.
    """
    print(f"\n## Synthesised series ({seeds} seeds per row, {cycles} cycles)")
    print(f"{'clean shape':<16}{'false positives':>18}{'earlier verdict':>18}")
    total = flagged_total = 0
    for shape in ("flat", "noisy", "warm-up", "plateau"):
        flagged = flagged_any = 0
        for seed in range(seeds):
            series = clean_series(shape, cycles, np.random.default_rng(seed))
            if judge(series):
                flagged += 1
            if any(judge(_prefix(series, n)) for n in range(8, cycles, 4)):
                flagged_any += 1
        total += seeds
        flagged_total += flagged
        print(
            f"{shape:<16}{flagged:>8} / {seeds:<7} ({flagged / seeds:5.1%})"
            f"{flagged_any:>8} / {seeds}"
        )
    print(f"{'all':<16}{flagged_total:>8} / {total:<7} ({flagged_total / total:5.1%})")

    print(f"\n{'leak per cycle':<16}{'median cycles':>15}{'p90':>6}{'missed':>8}")
    for leak, (signal, kind) in LEAK_SIGNAL.items():
        found = [
            cycles_to_detect(
                leaky_series(leak, 60, np.random.default_rng(1000 + seed)), signal, kind
            )
            for seed in range(seeds)
        ]
        hits = sorted(n for n in found if n is not None)
        missed = len(found) - len(hits)
        median = statistics.median(hits) if hits else float("nan")
        p90 = hits[int(0.9 * (len(hits) - 1))] if hits else float("nan")
        print(f"{leak:<16}{median:>15}{p90:>6}{missed:>8}")


class Record:
    """One leaked user object."""

    def __init__(self, index: int) -> None:
        self.index = index


def clean_workload(shape: str, seed: int) -> Callable[[], None]:
    """Return a real callable of one of the clean shapes."""
    rng = random.Random(seed)
    kept: list[Record] = []
    cache: dict[int, tuple[Record, bytes]] = {}
    warm: dict[int, bytes] = {}

    def work() -> None:
        scratch = [Record(i) for i in range(rng.randint(0, 3000))]
        blob = bytearray(rng.randint(0, 1 << 19))
        if shape != "flat":
            kept[:] = [Record(i) for i in range(rng.randint(0, 50))]
        if shape == "warm-up" and len(warm) < 3:
            warm[len(warm)] = bytes(4000)
        if shape == "plateau":
            for _ in range(20):
                if len(cache) < 200:
                    cache[len(cache)] = (Record(len(cache)), bytes(256))
        del scratch, blob

    return work


def leaky_workload(leak: str, stop: list[Callable[[], None]]) -> Callable[[], None]:
    """Return a real callable that leaks ``leak`` per cycle."""
    import threading

    held: list[object] = []
    if leak == "1 thread":
        event = threading.Event()
        threads: list[threading.Thread] = []

        def release() -> None:
            event.set()
            for thread in threads:
                thread.join()

        stop.append(release)

        def spawn() -> None:
            thread = threading.Thread(target=event.wait, daemon=True)
            thread.start()
            threads.append(thread)

        return spawn
    if leak == "1 object":
        return lambda: held.append(Record(len(held)))
    size = {"256 B": 256, "1 KiB": 1024, "10 KiB": 10240}[leak]
    return lambda: held.append(bytes(size))


def real(runs: int, cycles: int) -> None:
    """Print false positives and detection speed of real run_cycles runs."""
    print(f"\n## Real run_cycles runs (tracemalloc on, {cycles} cycles)")
    started = time.perf_counter()
    total = flagged_total = 0
    print(f"{'clean shape':<16}{'false positives':>18}")
    for shape in ("flat", "noisy", "warm-up", "plateau"):
        flagged = 0
        for seed in range(runs):
            report = run_cycles(
                clean_workload(shape, seed), cycles=cycles, tracemalloc=True
            )
            if report.findings:
                flagged += 1
                for finding in report.findings:
                    print(f"  {shape} seed {seed}: {finding.message}")
        total += runs
        flagged_total += flagged
        print(f"{shape:<16}{flagged:>8} / {runs}")
    print(f"{'all':<16}{flagged_total:>8} / {total}")

    print(f"\n{'leak per cycle':<16}{'median cycles':>15}{'runs':>6}")
    for leak, (signal, kind) in LEAK_SIGNAL.items():
        found: list[int | None] = []
        for _ in range(runs):
            stop: list[Callable[[], None]] = []
            report = run_cycles(
                leaky_workload(leak, stop),
                cycles=24,
                tracemalloc=True,
                settle=Settle(thread_wait=0.02),
            )
            for release in stop:
                release()
            name = signal
            if leak == "1 object":
                name = f"objects.{Record.__module__}.{Record.__qualname__}"
            found.append(cycles_to_detect(report.series, name, kind))
        hits = [n for n in found if n is not None]
        median = statistics.median(hits) if hits else float("nan")
        print(f"{leak:<16}{median:>15}{len(hits):>4}/{runs}")
    print(f"\n(real runs took {time.perf_counter() - started:.0f} s)")


def _prefix(series: Series, cycles: int) -> Series:
    return {name: values[:cycles] for name, values in series.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run both parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--real-runs", type=int, default=5)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    synthetic(args.seeds, args.cycles)
    real(args.real_runs, args.cycles)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

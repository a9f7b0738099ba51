"""How fast leakhunt's verdict finds leaks, and how often it cries wolf.

Every figure comes from real runs of ``run_cycles`` with the default probes,
seeded, with tracemalloc off and, as a second set, on:

- clean workloads in four shapes (flat, noisy, warm-up then flat, a cache
  that fills and plateaus) give the false-positive rate;
- leaks of 256 B, 1 KiB, 10 KiB, one object and one thread per cycle, added
  to a seeded quiet workload (the flat shape) and to a seeded noisy one,
  give the cycles until the verdict is "leak".

The stopping rule is the same for both: each run records ``--cycles``
samples, and the verdict after N cycles is ``judge`` on the first N values of
every series, which is what ``run_cycles(cycles=N)`` says on the same
samples. For each N the benchmark reports the share of clean runs with any
finding and the share of leak runs whose leak is found; "cycles to detect"
is the smallest N whose verdict finds the leak. A verdict after N cycles is
therefore worth the false-positive rate printed for that N.

Run: ``.venv/bin/python benchmarks/detection.py [--clean-seeds 25]
[--leak-seeds 10] [--save runs.json | --load runs.json]``; the tables print
as Markdown. ``--load`` judges saved series again, to weigh a change to the
verdict on the very same samples.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from leakhunt.analysis.verdict import judge
from leakhunt.cycles import Settle, run_cycles
from leakhunt.report.model import MEMORY_GROWTH, OBJECT_GROWTH, THREAD_LEAK, Finding

Series = dict[str, list[float]]

SHAPES = ("flat", "noisy", "warm-up", "plateau")
"""The clean shapes: transient work only; plus a working set that changes size
every cycle; plus a cache that fills in the first three cycles; plus a cache
of 200 entries filling at 10-25 entries per cycle (full by cycle 8-20)."""

LEAKS: Mapping[str, str] = {
    "256 B": MEMORY_GROWTH,
    "1 KiB": MEMORY_GROWTH,
    "10 KiB": MEMORY_GROWTH,
    "1 object": OBJECT_GROWTH,
    "1 thread": THREAD_LEAK,
}
"""Each leak per cycle, and the kind of finding that counts as finding it."""

LEAK_BYTES = {"256 B": 256, "1 KiB": 1024, "10 KiB": 10240}

BACKGROUNDS = ("flat", "noisy")
"""The clean shapes a leak is added to: quiet, and noisy."""

FIRST_VERDICT = 5
"""The first cycle count judged: exact counts need five cycles."""

STOP_POINTS = (5, 8, 10, 15, 20, 25, 30)
"""Cycle counts whose verdicts are tabled (every N is judged)."""

FOUND_POINTS = (8, 10, 15, 20, 30)
"""Cycle counts at which the share of leak runs found is tabled."""

CACHE_SIZE = 200
"""Entries the plateau shape's cache holds once full."""

QUICK_SETTLE = Settle(thread_wait=0.02)
"""A leaked thread never ends; waiting the default 0.5 s for it each cycle
would only slow the benchmark. Clean runs start no threads, so they never
wait either way."""


class Record:
    """One object of a clean workload: kept, cached or thrown away."""

    def __init__(self, index: int) -> None:
        self.index = index


class LeakedRecord(Record):
    """One object leaked per cycle, of a type the clean work does not use."""


def clean_workload(shape: str, seed: int) -> Callable[[], None]:
    """Return a real callable of one clean shape, a few milliseconds a cycle."""
    rng = random.Random(seed)
    kept: list[Record] = []
    warm: list[object] = []
    cache: dict[int, tuple[Record, bytes]] = {}
    fill_rate = rng.randint(10, 25)

    def work() -> None:
        # Transient work every shape does: objects and a buffer, all freed.
        scratch = [Record(i) for i in range(rng.randint(0, 3000))]
        blob = bytearray(rng.randint(0, 1 << 19))

        if shape != "flat":
            kept[:] = [Record(i) for i in range(rng.randint(0, 50))]
        if shape == "warm-up" and len(warm) < 3:
            # A lazily built table, largest on first use.
            warm.append([Record(i) for i in range(1000 // (len(warm) + 1))])
        if shape == "plateau":
            for _ in range(fill_rate):
                if len(cache) < CACHE_SIZE:
                    cache[len(cache)] = (Record(len(cache)), bytes(256))
        del scratch, blob

    return work


@dataclass
class LeakyWorkload:
    """A clean shape with one leak per cycle on top."""

    leak: str
    background: str
    seed: int
    held: list[object] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._clean = clean_workload(self.background, self.seed)

    def __call__(self) -> None:
        self._clean()
        if self.leak == "1 thread":
            thread = threading.Thread(target=self.stop.wait, daemon=True)
            thread.start()
            self.threads.append(thread)
        elif self.leak == "1 object":
            self.held.append(LeakedRecord(len(self.held)))
        else:
            self.held.append(bytes(LEAK_BYTES[self.leak]))

    def release(self) -> None:
        """End the leaked threads so that the next run starts from the same count."""
        self.stop.set()
        for thread in self.threads:
            thread.join()


@dataclass(frozen=True)
class Job:
    """One run to record: a clean shape, or a leak on a background, and a seed."""

    workload: str
    seed: int
    background: str = ""


@dataclass
class Run:
    """The series of one recorded run and what it was."""

    workload: str
    seed: int
    tracemalloc: bool
    series: Series
    background: str = ""

    def verdicts(self, cycles: int) -> Iterator[tuple[int, list[Finding]]]:
        """Yield the verdict after each N cycles, from the first judged to all."""
        for n in range(FIRST_VERDICT, cycles + 1):
            yield n, judge({name: v[:n] for name, v in self.series.items()})


def record(jobs: Sequence[Job], cycles: int) -> list[Run]:
    """Run every job with tracemalloc off, then on; keep the series."""
    runs: list[Run] = []
    for tracemalloc in (False, True):
        for job in jobs:
            leaky = None
            if job.workload in LEAKS:
                leaky = LeakyWorkload(job.workload, job.background, job.seed)
            work = leaky or clean_workload(job.workload, job.seed)
            try:
                report = run_cycles(
                    work, cycles=cycles, tracemalloc=tracemalloc, settle=QUICK_SETTLE
                )
            finally:
                if leaky is not None:
                    leaky.release()
            runs.append(
                Run(job.workload, job.seed, tracemalloc, report.series, job.background)
            )
    return runs


def false_positives(runs: Sequence[Run], cycles: int) -> None:
    """Print, per shape, how many clean runs have a finding after N cycles."""
    points = [n for n in STOP_POINTS if n <= cycles]
    print("\n### Clean runs with any finding after N cycles\n")
    print("| shape | tracemalloc | " + " | ".join(f"N={n}" for n in points) + " |")
    print("|---|---|" + "---|" * len(points))

    flagged: dict[tuple[str, bool], list[int]] = {}
    examples: list[str] = []
    for run in runs:
        at = dict(run.verdicts(cycles))
        flagged.setdefault((run.workload, run.tracemalloc), []).append(
            sum(1 << n for n in points if at[n])
        )
        examples.extend(
            f"- {run.workload} seed {run.seed}, tracemalloc {_on(run.tracemalloc)}: "
            f"{finding.message}"
            for finding in at[cycles]
        )

    for tracemalloc in (False, True):
        for shape in (*SHAPES, "all"):
            masks = [
                mask
                for (name, traced), masks in flagged.items()
                if traced == tracemalloc and shape in (name, "all")
                for mask in masks
            ]
            if not masks:
                continue
            cells = [
                _share(sum(bool(m & 1 << n) for m in masks), len(masks)) for n in points
            ]
            print(f"| {shape} | {_on(tracemalloc)} | " + " | ".join(cells) + " |")

    every = [mask for masks in flagged.values() for mask in masks]
    cells = [_share(sum(bool(m & 1 << n) for m in every), len(every)) for n in points]
    print("| **all runs** | both | " + " | ".join(cells) + " |")
    print(f"\nFindings on clean runs after {cycles} cycles:\n")
    print("\n".join(examples) or "- none")


def detection(runs: Sequence[Run], cycles: int) -> None:
    """Print cycles to detect each leak, and the share found after N cycles."""
    points = [n for n in FOUND_POINTS if n <= cycles]
    print("\n### Leak runs: cycles until the verdict finds the leak\n")
    print(
        "| leak per cycle | added to | tracemalloc | median | p90 | "
        + " | ".join(f"found at N={n}" for n in points)
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * len(points))
    for background in BACKGROUNDS:
        for tracemalloc in (False, True):
            for leak, kind in LEAKS.items():
                chosen = [
                    run
                    for run in runs
                    if (run.workload, run.background, run.tracemalloc)
                    == (leak, background, tracemalloc)
                ]
                if chosen:
                    found = [_found_at(run, kind, cycles) for run in chosen]
                    _detection_row(leak, background, tracemalloc, found, points)


def _found_at(run: Run, kind: str, cycles: int) -> list[int]:
    return [
        n
        for n, findings in run.verdicts(cycles)
        if any(finding.kind == kind for finding in findings)
    ]


def _detection_row(
    leak: str,
    background: str,
    tracemalloc: bool,
    found: Sequence[list[int]],
    points: Sequence[int],
) -> None:
    # A run never found counts as found after more cycles than any, so the
    # median and p90 say "> N" rather than leave misses out.
    first = sorted(hits[0] if hits else sys.maxsize for hits in found)
    median, p90 = (first[(len(first) - 1) * q // 10] for q in (5, 9))
    cells = [_share(sum(n in hits for hits in found), len(found)) for n in points]
    print(
        f"| {leak} | {background} | {_on(tracemalloc)} | {_cycles(median, points)} | "
        f"{_cycles(p90, points)} | " + " | ".join(cells) + " |"
    )


def _cycles(n: int, points: Sequence[int]) -> str:
    return str(n) if n != sys.maxsize else f"> {points[-1]}"


def _share(count: int, total: int) -> str:
    return f"{count}/{total}"


def _on(tracemalloc: bool) -> str:
    return "on" if tracemalloc else "off"


def save(runs: Sequence[Run], path: str) -> None:
    """Write the recorded series, so that verdicts can be judged again later."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump([run.__dict__ for run in runs], out)


def load(path: str) -> list[Run]:
    """Read series written by :func:`save`."""
    with open(path, encoding="utf-8") as source:
        return [Run(**item) for item in json.load(source)]


def main(argv: Sequence[str] | None = None) -> int:
    """Record (or load) the runs, then print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-seeds", type=int, default=25, help="per shape")
    parser.add_argument("--leak-seeds", type=int, default=10, help="per leak")
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--save", help="write the recorded series to this file")
    parser.add_argument("--load", help="judge series saved earlier instead of running")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.load:
        runs = load(args.load)
    else:
        jobs = [
            Job(shape, seed) for shape in SHAPES for seed in range(args.clean_seeds)
        ]
        jobs += [
            Job(leak, 1000 + seed, background)
            for background in BACKGROUNDS
            for leak in LEAKS
            for seed in range(args.leak_seeds)
        ]
        runs = record(jobs, args.cycles)
        if args.save:
            save(runs, args.save)
    recorded = time.perf_counter() - started

    false_positives([run for run in runs if run.workload in SHAPES], args.cycles)
    detection([run for run in runs if run.workload in LEAKS], args.cycles)
    load_average = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\nRecorded {len(runs)} runs in {recorded:.0f} s, judged them in "
        f"{time.perf_counter() - started - recorded:.0f} s; load average "
        f"{load_average}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a soak costs over the controller's own cycles.

Runs the correct reference controller through N cycles on a simulator seeded
with P pods twice, in one run: once bare (a child process that runs the same
cycles with the same harness and nothing else), and once as ``leakhunt soak``
does it (worker process, settling, every probe, the server's metrics and audit
between cycles, the progress display). Both are timed over their cycles only,
from the first cycle's start to the last one's end: interpreter start-up,
imports, the simulator's start and the final analysis are left out of both,
and reported apart. The soak's verdict must be pass.

The two are timed in rounds, in the order bare, soak, soak, bare, ...: a
machine whose speed drifts during the run (a shared one does, by more than
the margin measured here) then slows both sides alike, and the overhead is
the pooled soak time over the pooled bare time.

    python benchmarks/soak.py [--cycles 100] [--objects 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.apiserver.process import SimulatorProcess
from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.target import load_target
from harness.workload.control import Control

if TYPE_CHECKING:
    from leakhunt.soak import SoakObserver, SoakOptions

# NB: leakhunt's conductor (numpy, scipy, rich) is imported only in the
# process that runs the soak: the bare child imports this file too, and those
# libraries' objects in its heap would slow every collection of its cycles,
# which a soak's worker does not carry.

TARGET = "harness.controllers.correct:controller"

BARE_CHILD = "--bare-child"


def bare_cycles(kubeconfig: str, namespace: str, url: str, token: str, n: int) -> float:
    """The same cycles as a soak, with no probe, settling or server reading;
    return the seconds the cycles took."""
    contexts = ContextFactory.from_kubeconfig(Path(kubeconfig), namespace)
    with CycleRunner(
        load_target(TARGET),
        scenario="lifecycle",
        server=Control(url, token),
        context_factory=contexts,
    ) as runner:
        started = time.perf_counter()
        for index in range(n):
            runner.run_cycle(index)
        return time.perf_counter() - started


def time_bare(objects: int, cycles: int) -> tuple[float, float]:
    """Seconds of the bare cycles, and of the whole child process around them."""
    with SimulatorProcess(objects=objects) as simulator:
        started = time.perf_counter()
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                BARE_CHILD,
                str(simulator.kubeconfig),
                simulator.namespaces[0],
                simulator.url,
                simulator.token,
                str(cycles),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        whole = time.perf_counter() - started
    return float(completed.stdout.strip().splitlines()[-1]), whole


class _CycleClock:
    """Passes a soak's progress on to its display, noting when the cycles
    start and end."""

    def __init__(self, display: SoakObserver) -> None:
        self.display = display
        self.first_cycle = 0.0
        self.last_cycle = 0.0

    def started(self, options: SoakOptions, server: str) -> None:
        self.display.started(options, server)
        self.first_cycle = time.perf_counter()

    def cycle_done(self, cycle: int, series: dict[str, list[float]]) -> None:
        self.display.cycle_done(cycle, series)
        self.last_cycle = time.perf_counter()

    def explaining(self, cycles: int) -> None:
        self.display.explaining(cycles)


def time_soak(objects: int, cycles: int) -> tuple[float, float, str]:
    """Seconds of the soak's cycles and of the whole ``run_soak``, and its
    verdict."""
    from rich.console import Console

    from leakhunt.report.progress import SoakProgress
    from leakhunt.soak import SoakOptions, run_soak

    with tempfile.TemporaryDirectory() as logs:
        options = SoakOptions(
            target=TARGET,
            cycles=cycles,
            objects=objects,
            log_dir=Path(logs),
            attribution=False,
        )
        display = SoakProgress(Console(stderr=True))
        clock = _CycleClock(display)
        started = time.perf_counter()
        with display:
            report = run_soak(options, clock)
        whole = time.perf_counter() - started
    return clock.last_cycle - clock.first_cycle, whole, report.verdict


def main() -> None:
    """Time both and print them side by side."""
    if len(sys.argv) > 1 and sys.argv[1] == BARE_CHILD:
        kubeconfig, namespace, url, token, n = sys.argv[2:7]
        print(bare_cycles(kubeconfig, namespace, url, token, int(n)))
        return

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.rounds < 1 or args.cycles < 3:
        parser.error("expected --rounds of 1 or more and --cycles of 3 or more")

    load_before = os.getloadavg()[0]
    rows: list[tuple[str, float, float]] = []
    for round_ in range(args.rounds):
        halves = ("bare", "soak") if round_ % 2 == 0 else ("soak", "bare")
        for half in halves:
            if half == "bare":
                cycles, whole = time_bare(args.objects, args.cycles)
            else:
                cycles, whole, verdict = time_soak(args.objects, args.cycles)
                if verdict != "pass":
                    sys.exit(
                        f"the soak of {TARGET} should pass, but its verdict was "
                        f"{verdict}"
                    )
            rows.append((half, cycles, whole))
    load_after = os.getloadavg()[0]

    n = args.cycles
    print(f"{n} cycles of {TARGET} on {args.objects} pods, {args.rounds} rounds")
    for half, cycles, whole in rows:
        print(
            f"  {half} cycles: {cycles:8.1f} s  ({cycles / n * 1000:.0f} ms/cycle; "
            f"whole run {whole:.1f} s)"
        )
    bare = sum(cycles for half, cycles, _ in rows if half == "bare")
    soak = sum(cycles for half, cycles, _ in rows if half == "soak")
    print(f"  overhead:     {soak / bare - 1:+8.1%}  (target: at most +25%)")
    print("  verdicts:     pass")
    print(f"  load average: {load_before:.1f} before, {load_after:.1f} after")


if __name__ == "__main__":
    main()

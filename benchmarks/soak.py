"""What a soak costs over the controller's own cycles.

Runs the correct reference controller through N cycles on a simulator seeded
with P pods twice, in one run: once as ``leakhunt soak`` does it (worker
process, settling, every probe, the server's metrics and audit between
cycles), and once bare (a child process that runs the same cycles with the
same harness and nothing else). Prints both wall times and the overhead.

    python benchmarks/soak.py [--cycles 100] [--objects 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.apiserver.process import SimulatorProcess
from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.target import load_target
from harness.workload.control import Control
from leakhunt.soak import SoakOptions, run_soak

TARGET = "harness.controllers.correct:controller"


def bare_cycles(kubeconfig: str, namespace: str, url: str, token: str, n: int) -> None:
    """The same cycles as a soak, with no probe, settling or server reading."""
    contexts = ContextFactory.from_kubeconfig(Path(kubeconfig), namespace)
    with CycleRunner(
        load_target(TARGET),
        scenario="lifecycle",
        server=Control(url, token),
        context_factory=contexts,
    ) as runner:
        for index in range(n):
            runner.run_cycle(index)


def time_bare(objects: int, cycles: int) -> float:
    """Wall time of the bare cycles, in a fresh process like the soak's worker."""
    with SimulatorProcess(objects=objects) as simulator:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--bare-child",
                str(simulator.kubeconfig),
                simulator.namespaces[0],
                simulator.url,
                simulator.token,
                str(cycles),
            ],
            check=True,
        )
        return time.perf_counter() - started


def time_soak(objects: int, cycles: int) -> tuple[float, str]:
    """Wall time of ``leakhunt soak`` from the simulator's start, and its verdict."""
    with tempfile.TemporaryDirectory() as logs:
        started = time.perf_counter()
        report = run_soak(
            SoakOptions(
                target=TARGET, cycles=cycles, objects=objects, log_dir=Path(logs)
            )
        )
        return time.perf_counter() - started, report.verdict


def main() -> None:
    """Time both and print them side by side."""
    if len(sys.argv) > 1 and sys.argv[1] == "--bare-child":
        kubeconfig, namespace, url, token, n = sys.argv[2:7]
        bare_cycles(kubeconfig, namespace, url, token, int(n))
        return

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()

    bare = time_bare(args.objects, args.cycles)
    soak, verdict = time_soak(args.objects, args.cycles)
    print(f"{args.cycles} cycles of {TARGET} on {args.objects} pods")
    print(
        f"  bare cycles:      {bare:8.1f} s  ({bare / args.cycles * 1000:.0f} ms/cycle)"
    )
    print(
        f"  leakhunt soak:    {soak:8.1f} s  ({soak / args.cycles * 1000:.0f} ms/cycle)"
    )
    print(f"  overhead:         {soak / bare - 1:+8.1%}  (target: at most +25%)")
    print(f"  verdict:          {verdict}")


if __name__ == "__main__":
    main()

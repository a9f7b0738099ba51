"""What the lifecycle harness costs per cycle, and whether it grows by itself.

Runs a trivial controller of each shape (a thread started and joined, or a
coroutine awaiting its stop event) through ``CycleRunner`` cycles of the
``lifecycle`` scenario with no settle delay, next to the same start / stop
done bare in a loop, and prints the median cycle time of each, their ratio,
and the change in the GC object count over the measured cycles (it must be
0: the harness's own bookkeeping must not look like a leak).

    python benchmarks/lifecycle.py [CYCLES]
"""

from __future__ import annotations

import asyncio
import functools
import gc
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import kubernetes.client

from harness.lifecycle import ContextFactory, CycleRunner, load_target

WARMUP = 20
"""Cycles run before measuring: the first ones fill caches and the loop."""

CONTROLLERS = """
import threading

class Worker:
    def __init__(self, ctx):
        self.halt = threading.Event()
        self.thread = None

    def start(self):
        self.halt.clear()
        self.thread = threading.Thread(target=self.halt.wait)
        self.thread.start()

    def stop(self):
        self.halt.set()
        self.thread.join()

def factory(ctx):
    return Worker(ctx)

def generator(ctx):
    worker = Worker(ctx)
    worker.start()
    yield worker
    worker.stop()

async def coroutine(ctx):
    await ctx.stop.wait()
"""


def _contexts() -> ContextFactory:
    configuration = kubernetes.client.Configuration()
    configuration.host = "http://127.0.0.1:9"
    return ContextFactory(
        configuration=configuration, kubeconfig=Path("kubeconfig"), namespace="soak"
    )


def _harness(spec: str, cycles: int) -> tuple[list[float], int]:
    times = [0.0] * cycles
    with CycleRunner(
        load_target(spec),
        scenario="lifecycle",
        context_factory=_contexts(),
        settle_delay=0.0,
    ) as runner:
        for index in range(WARMUP):
            runner.run_cycle(index)
        gc.collect()
        before = len(gc.get_objects())
        for index in range(cycles):
            started = time.perf_counter()
            runner.run_cycle(WARMUP + index)
            times[index] = time.perf_counter() - started
        gc.collect()
        growth = len(gc.get_objects()) - before
    return times, growth


def _bare_sync(make: Callable[[], object], cycles: int) -> list[float]:
    times = [0.0] * cycles
    for index in range(cycles):
        started = time.perf_counter()
        worker = make()
        worker.start()  # type: ignore[attr-defined]  # the benchmark's own Worker
        worker.stop()  # type: ignore[attr-defined]  # the benchmark's own Worker
        times[index] = time.perf_counter() - started
    return times


def _bare_async(cycles: int) -> list[float]:
    times = [0.0] * cycles
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def run(stop: asyncio.Event) -> None:
        await stop.wait()

    async def make_event() -> asyncio.Event:
        return asyncio.Event()

    for index in range(cycles):
        started = time.perf_counter()
        stop = asyncio.run_coroutine_threadsafe(make_event(), loop).result()
        future = asyncio.run_coroutine_threadsafe(run(stop), loop)
        loop.call_soon_threadsafe(stop.set)
        future.result()
        times[index] = time.perf_counter() - started

    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return times


def main() -> None:
    """Print the per-cycle cost of the harness for each controller shape."""
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench_controllers.py"
        path.write_text(CONTROLLERS)
        module = load_target(f"{path}:factory").function.__globals__

        print(f"{cycles} cycles of the lifecycle scenario, after {WARMUP} warm-up")
        print(
            f"{'shape':<10} {'harness':>10} {'bare':>10} {'ratio':>7} "
            f"{'extra':>9} {'GC objects':>11}"
        )
        for shape, name in (
            ("factory", "factory"),
            ("generator", "generator"),
            ("async", "coroutine"),
        ):
            times, growth = _harness(f"{path}:{name}", cycles)
            if shape == "async":
                bare = _bare_async(cycles)
            else:
                worker = module["Worker"]
                bare = _bare_sync(functools.partial(worker, None), cycles)
            harness_ms = statistics.median(times) * 1000
            bare_ms = statistics.median(bare) * 1000
            print(
                f"{shape:<10} {harness_ms:>8.3f}ms {bare_ms:>8.3f}ms "
                f"{harness_ms / bare_ms:>6.1f}x {harness_ms - bare_ms:>7.3f}ms "
                f"{growth:>+11d}"
            )


if __name__ == "__main__":
    main()

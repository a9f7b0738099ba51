"""The runner against the real simulator process with the official client's informer.

These cycles go over real sockets: the informer lists and watches the
simulator, the harness judges the sync by the simulator's open-watch registry
and drives it through its control client.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.apiserver.process import SimulatorProcess
from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.sync import WatchTracker
from harness.workload.control import Control

RELEASE_SECONDS = 10.0
"""How long teardown keeps expiring watches to free informers hung in one."""


def _informer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "SharedInformer"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(objects=40) as running:
        yield running


@pytest.fixture
def informer_cycles(simulator: SimulatorProcess, samples: Any) -> Iterator[Any]:
    """Run cycles of a SharedInformer controller through a scenario."""
    server = Control.from_simulator(simulator)
    contexts = ContextFactory.from_kubeconfig(
        simulator.kubeconfig, simulator.namespaces[0]
    )
    made: list[CycleRunner] = []

    def run(scenario: str, cycles: int, **options: Any) -> list[Any]:
        runner = CycleRunner(
            samples.target("shared_informer_controller"),
            scenario=scenario,
            server=server,
            context_factory=contexts,
            **options,
        )
        made.append(runner)
        return [runner.run_cycle(i) for i in range(cycles)]

    yield run
    # NB: a 410 wakes an informer hung in its watch, so its thread and the stop
    # waiting on it end with the test (a dropped connection would not: the
    # client's Watch quietly reconnects). The watch may still be on its way
    # through the injected latency, hence the retries.
    server.set_latency(0.0)
    server.stop_churn()
    deadline = time.monotonic() + RELEASE_SECONDS
    while _informer_threads() and time.monotonic() < deadline:
        server.expire_watches()
        time.sleep(0.1)
    for runner in made:
        runner.close()


def _hung_in_its_watch(result: Any) -> bool:
    informer = [t for t in result.thread_dump if t["name"] == "SharedInformer"]
    return bool(informer) and all(
        "watch.py" in t["stack"] and "recv_into" in t["stack"] for t in informer
    )


@pytest.mark.parametrize(("scenario", "cycles"), [("churn", 2), ("idle-stop", 2)])
def test_a_shared_informer_stopped_after_events_or_quiet_stops_cleanly(
    informer_cycles: Any,
    simulator: SimulatorProcess,
    samples: Any,
    scenario: str,
    cycles: int,
) -> None:
    results = informer_cycles(scenario, cycles, sync_timeout=10)
    gc.collect()

    for result in results:
        assert result.synced, result
        assert result.sync_method == "server-watch"
        assert not result.stop_timed_out, result.thread_dump
        assert result.error is None
        assert result.notes == []
    assert WatchTracker(Control.from_simulator(simulator)).own() == set()
    assert all(ref() is None for ref in samples.module.SEEN)


@pytest.mark.parametrize(
    ("scenario", "cycles"),
    [("lifecycle", 3), ("relist", 3), ("restart", 3), ("signal", 1)],
)
def test_a_shared_informer_stopped_as_its_watch_opens_syncs_and_never_hangs_the_run(
    informer_cycles: Any, scenario: str, cycles: int
) -> None:
    # NB: these scenarios stop the informer as soon as the server has its new
    # watch. Between the server accepting a watch and the client holding the
    # response, SharedInformer.stop() has no response to close, and the
    # informer then blocks reading a quiet watch: a real race, caught in a few
    # percent of such stops. Any stop that times out must be that one.
    started = time.monotonic()
    results = informer_cycles(scenario, cycles, sync_timeout=10, stop_timeout=2.0)

    assert time.monotonic() - started < 60
    for result in results:
        assert result.synced, result
        assert result.sync_method == "server-watch"
        assert result.error is None
        assert not result.stop_timed_out or _hung_in_its_watch(result), result


def test_early_stop_catches_the_shared_informer_hanging_in_its_first_watch(
    informer_cycles: Any,
) -> None:
    # NB: SharedInformer.stop() closes only a watch that is already open. Asked
    # to stop during its first LIST, it goes on to open the watch anyway and
    # blocks reading it until the next event: the bug early-stop exists for.
    (result,) = informer_cycles("early-stop", 1, stop_timeout=1.0)

    assert result.stop_timed_out
    assert _hung_in_its_watch(result)

"""Whole cycles: what a cycle records, and what it lets go of afterwards."""

from __future__ import annotations

import gc
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import ConfigurationError
from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.target import Target

SHAPES = ["make_thread_controller", "generator_controller", "async_controller"]


@pytest.fixture
def runners(contexts: ContextFactory) -> Iterator[Any]:
    """Make runners that are closed when the test ends."""
    made: list[CycleRunner] = []

    def make(target: Target, **options: Any) -> CycleRunner:
        options.setdefault("scenario", "lifecycle")
        options.setdefault("settle_delay", 0.01)
        runner = CycleRunner(target, context_factory=contexts, **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


@pytest.mark.parametrize("name", SHAPES)
def test_nothing_of_the_controller_survives_its_cycle(
    samples: Any, runners: Any, name: str
) -> None:
    runner = runners(samples.target(name))

    result = runner.run_cycle(0)
    gc.collect()

    assert result.error is None
    seen = samples.module.SEEN
    assert len(seen) == 3
    assert [ref() for ref in seen] == [None, None, None]


@pytest.mark.parametrize("name", SHAPES)
def test_a_clean_cycle_is_recorded_as_json(
    samples: Any, runners: Any, name: str
) -> None:
    runner = runners(samples.target(name))

    results = [runner.run_cycle(i).to_dict() for i in range(3)]

    assert json.loads(json.dumps(results)) == results
    assert [r["cycle"] for r in results] == [0, 1, 2]
    for r in results:
        assert r["scenario"] == "lifecycle"
        assert r["synced"] is True
        assert r["stop_timed_out"] is False
        assert r["thread_dump"] == []
        assert r["pending_tasks"] == []
        assert r["error"] is None


def test_a_controller_that_raises_is_recorded_and_the_run_goes_on(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("RaisesOnStart"))

    first, second = runner.run_cycle(0), runner.run_cycle(1)

    for result in (first, second):
        assert result.error is not None
        assert "RuntimeError: cannot reach the API server" in result.error
        assert not result.synced


def test_a_hung_stop_ends_the_cycle_at_the_deadline_with_a_thread_dump(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("HangingStop"), stop_timeout=0.3)

    started = time.monotonic()
    result = runner.run_cycle(0)
    elapsed = time.monotonic() - started

    assert result.stop_timed_out
    assert result.stop_seconds >= 0.3
    assert elapsed < 5
    stuck = [t for t in result.thread_dump if t["name"].startswith("leakhunt-stop-")]
    assert "wait_forever_for_release" in stuck[0]["stack"]
    assert json.dumps(result.to_dict())

    assert runner.run_cycle(1).stop_timed_out


def test_tasks_left_by_an_async_controller_pile_up_cycle_after_cycle(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("async_leaves_task"))

    counts = [runner.run_cycle(i).pending_task_count for i in range(3)]

    assert counts == [1, 2, 3]
    last = runner.run_cycle(3)
    assert {t["coro"] for t in last.pending_tasks} == {"_forgotten_poller"}


def test_async_controllers_share_one_loop_across_cycles(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("async_controller"))

    runner.run_cycle(0)
    first_loop = runner._host
    runner.run_cycle(1)

    assert first_loop is not None
    assert runner._host is first_loop


def test_a_sync_that_never_comes_is_recorded_not_raised(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("NeverSyncs"), sync_timeout=0.5)

    result = runner.run_cycle(0)

    assert not result.synced
    assert result.sync_method == "wait_for_sync"
    assert not result.stop_timed_out


def test_has_synced_sets_the_sync_time(samples: Any, runners: Any) -> None:
    result = runners(samples.target("SyncsSlowly")).run_cycle(0)

    assert result.synced
    assert result.sync_method == "has_synced"
    assert result.sync_seconds >= 0.2


def test_a_factory_object_without_stop_ends_the_run_as_a_configuration_error(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("returns_object_without_stop"))

    with pytest.raises(ConfigurationError, match=r"has no stop\(\)"):
        runner.run_cycle(0)


@pytest.mark.parametrize("option", ["stop_timeout", "sync_timeout"])
def test_a_timeout_of_zero_is_refused(samples: Any, runners: Any, option: str) -> None:
    with pytest.raises(ConfigurationError, match="more than 0 seconds, got 0"):
        runners(samples.target("ThreadController"), **{option: 0})


def test_an_async_controller_that_crashes_is_not_waited_for_until_the_sync_timeout(
    samples: Any, runners: Any, fake_server: Any
) -> None:
    runner = runners(
        samples.target("async_returns_early"), server=fake_server, sync_timeout=30
    )

    result = runner.run_cycle(0)

    assert not result.synced
    assert result.sync_seconds < 5
    assert result.error is not None
    assert "returned before ctx.stop was set" in result.error


def _gc_objects_per_cycle(runner: CycleRunner, samples: Any, cycles: int) -> list[int]:
    counts = [0] * cycles
    for index in range(cycles):
        runner.run_cycle(index)
        samples.module.SEEN.clear()
        gc.collect()
        counts[index] = len(gc.get_objects())
    return counts


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("scenario", ["lifecycle", "restart"])
def test_the_runner_s_own_bookkeeping_does_not_grow_from_cycle_to_cycle(
    samples: Any, runners: Any, name: str, scenario: str
) -> None:
    runner = runners(samples.target(name), scenario=scenario, settle_delay=0.0)

    counts = _gc_objects_per_cycle(runner, samples, 12)

    assert counts[4:] == [counts[4]] * 8


def test_a_leaked_task_shows_as_growth_the_runner_does_not_hide(
    samples: Any, runners: Any
) -> None:
    runner = runners(samples.target("async_leaves_task"), settle_delay=0.0)

    counts = _gc_objects_per_cycle(runner, samples, 12)

    growth = [after - before for before, after in itertools.pairwise(counts[4:])]
    assert all(g > 0 for g in growth)


@pytest.mark.parametrize(
    ("scenario", "phases"),
    [
        ("lifecycle", ["start", "sync", "scenario", "stop"]),
        ("restart", ["start", "sync", "scenario", "stop", "start", "sync", "stop"]),
        ("signal", ["child"]),
    ],
)
def test_a_listener_is_told_each_phase_of_the_cycle_in_order(
    samples: Any, runners: Any, scenario: str, phases: list[str]
) -> None:
    seen: list[str] = []
    runner = runners(
        samples.target("make_thread_controller"),
        scenario=scenario,
        on_phase=seen.append,
    )

    runner.run_cycle(0)

    assert seen == phases

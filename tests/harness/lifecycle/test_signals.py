"""The signal scenario: a controller in a process of its own, SIGTERM and SIGINT."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.scenarios import (
    CHILD_START_GRACE,
    SCENARIOS,
    SIGNALS_PER_CYCLE,
    get_scenario,
)


def _signal_cycle(
    samples: Any, contexts: ContextFactory, name: str, **options: Any
) -> Any:
    with CycleRunner(
        samples.target(name), scenario="signal", context_factory=contexts, **options
    ) as runner:
        return runner.run_cycle(0)


@pytest.mark.parametrize("name", ["make_thread_controller", "async_controller"])
def test_a_clean_controller_exits_on_sigterm_and_on_sigint(
    samples: Any, contexts: ContextFactory, name: str
) -> None:
    result = _signal_cycle(samples, contexts, name)

    assert result.error is None
    assert result.synced
    assert not result.stop_timed_out
    assert [n.split(" the ")[0] for n in result.notes] == [
        "after SIGTERM",
        "after SIGINT",
    ]
    assert all("exited in" in n for n in result.notes)


def test_a_forgotten_non_daemon_thread_keeps_the_process_alive_and_is_dumped(
    samples: Any, contexts: ContextFactory
) -> None:
    started = time.monotonic()
    result = _signal_cycle(samples, contexts, "NonDaemonThread", stop_timeout=0.5)
    elapsed = time.monotonic() - started

    assert result.stop_timed_out
    assert elapsed < 60
    assert "did not exit within 2.5 s and was killed" in result.notes[0]
    names = {t["name"] for t in result.thread_dump}
    assert "forgotten-poller" in names


def test_a_child_that_cannot_load_its_kubeconfig_is_an_error_not_a_hang(
    samples: Any, contexts: ContextFactory, tmp_path: Path
) -> None:
    broken = ContextFactory(
        configuration=contexts.configuration,
        kubeconfig=tmp_path / "missing-kubeconfig",
        namespace="soak",
    )

    result = _signal_cycle(samples, broken, "make_thread_controller")

    assert not result.synced
    assert result.error is not None
    assert "no kubeconfig at" in result.error
    assert "missing-kubeconfig'" in result.error


def test_children_that_never_start_are_recorded_within_the_longest_cycle(
    samples: Any, contexts: ContextFactory
) -> None:
    scenario = get_scenario("signal", start_grace=0.5)
    longest = scenario.longest_cycle(sync_timeout=0.5, stop_timeout=0.5)

    started = time.monotonic()
    with CycleRunner(
        samples.target("HangsInStart"),
        scenario=scenario,
        context_factory=contexts,
        sync_timeout=0.5,
        stop_timeout=0.5,
    ) as runner:
        result = runner.run_cycle(0)
    elapsed = time.monotonic() - started

    assert elapsed < longest
    assert not result.synced
    assert result.error is not None
    assert "did not start within 1.0 s" in result.error


def test_the_longest_signal_cycle_gives_each_child_its_start_grace() -> None:
    longest = SCENARIOS["signal"].longest_cycle(sync_timeout=1, stop_timeout=1)

    assert longest >= len(SIGNALS_PER_CYCLE) * (1 + CHILD_START_GRACE + 1)

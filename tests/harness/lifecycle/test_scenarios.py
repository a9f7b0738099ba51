"""The scenarios, each run as a cycle against the fake server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from harness.errors import ConfigurationError, ServerError
from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.scenarios import SCENARIOS, Churn, IdleStop, get_scenario

DOCUMENTED = [
    "lifecycle",
    "churn",
    "idle-stop",
    "early-stop",
    "restart",
    "relist",
    "signal",
]


@pytest.fixture
def run(contexts: ContextFactory, samples: Any) -> Iterator[Any]:
    """Run one cycle of a sample controller through a scenario."""
    made: list[CycleRunner] = []

    def run_one(name: str, scenario: Any, **options: Any) -> Any:
        options.setdefault("settle_delay", 0.01)
        runner = CycleRunner(
            samples.target(name), scenario=scenario, context_factory=contexts, **options
        )
        made.append(runner)
        return runner.run_cycle(0)

    yield run_one
    for runner in made:
        runner.close()


def test_the_seven_scenarios_are_registered_in_order_with_descriptions() -> None:
    assert list(SCENARIOS) == DOCUMENTED
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert scenario.description
        assert "\n" not in scenario.description


def test_an_unknown_scenario_is_refused_with_the_known_names() -> None:
    with pytest.raises(ConfigurationError) as caught:
        get_scenario("chaos")

    message = str(caught.value)
    assert "'chaos'" in message
    assert ", ".join(DOCUMENTED) in message


def test_a_scenario_s_settings_can_be_changed_by_name() -> None:
    churn = get_scenario("churn", rate=50.0)

    assert isinstance(churn, Churn)
    assert churn.rate == 50.0
    default = SCENARIOS["churn"]
    assert isinstance(default, Churn)
    assert churn.seconds == default.seconds


def test_a_setting_a_scenario_does_not_have_is_refused_with_its_own() -> None:
    with pytest.raises(ConfigurationError) as caught:
        get_scenario("churn", latency=1.0)

    assert (
        str(caught.value)
        == "the churn scenario has no setting 'latency'; it has rate, seconds"
    )


@pytest.mark.parametrize("name", ["churn", "relist"])
def test_a_scenario_that_drives_the_server_needs_one(
    name: str, contexts: ContextFactory, samples: Any
) -> None:
    with pytest.raises(ConfigurationError, match=f"the {name} scenario drives"):
        CycleRunner(
            samples.target("ThreadController"), scenario=name, context_factory=contexts
        )


def test_churn_runs_while_the_controller_runs_and_through_its_stop(
    run: Any, fake_server: Any
) -> None:
    churn = SCENARIOS["churn"]
    assert isinstance(churn, Churn)
    churn = replace(churn, rate=50.0, seconds=0.1)

    result = run("Watcher", churn, server=fake_server)

    assert result.synced
    assert result.error is None
    assert fake_server.calls == [("start_churn", ("soak", 50.0)), ("stop_churn", ())]


def test_churn_leaves_the_rate_to_the_server_control_unless_told(
    run: Any, fake_server: Any
) -> None:
    churn = get_scenario("churn", seconds=0.1)

    run("Watcher", churn, server=fake_server)

    assert fake_server.calls[0] == ("start_churn", ("soak", None))


def test_early_stop_slows_the_server_and_does_not_wait_for_the_sync(
    run: Any, fake_server: Any
) -> None:
    result = run("SyncsSlowly", "early-stop", server=fake_server)

    assert result.sync_method == "skipped"
    assert not result.synced
    assert result.error is None
    assert fake_server.calls == [("set_latency", (1.0,)), ("set_latency", (0.0,))]


def test_early_stop_works_without_a_server(run: Any) -> None:
    result = run("ThreadController", "early-stop")

    assert result.error is None
    assert not result.stop_timed_out


def test_idle_stop_lets_the_watch_go_quiet_before_stopping(
    run: Any, fake_server: Any
) -> None:
    idle = SCENARIOS["idle-stop"]
    assert isinstance(idle, IdleStop)
    idle = replace(idle, quiet_seconds=0.2)

    result = run("Watcher", idle, server=fake_server)

    assert fake_server.names() == ["stop_churn"]
    assert result.synced
    assert result.sync_method == "server-watch"
    assert not result.stop_timed_out


def test_restart_stops_and_starts_the_same_object(run: Any, samples: Any) -> None:
    samples.module.CALLS.clear()

    result = run("RecordsCalls", "restart")

    methods = [method for method, _ in samples.module.CALLS]
    instances = {instance for _, instance in samples.module.CALLS}
    assert result.error is None
    assert methods == ["start", "stop", "start", "stop"]
    assert len(instances) == 1


def test_restart_of_a_controller_whose_stop_hangs_does_not_start_it_again(
    run: Any,
) -> None:
    result = run("HangingStop", "restart", stop_timeout=0.2)

    assert result.stop_timed_out
    assert "not restarted" in result.notes[0]


def test_relist_sees_a_controller_watch_again_after_410_and_a_drop(
    run: Any, fake_server: Any
) -> None:
    result = run("Watcher", "relist", server=fake_server, sync_timeout=5)

    assert result.synced
    assert result.notes == []
    assert fake_server.names() == ["expire_watches", "drop_watches"]


def test_relist_notes_a_controller_that_never_watches_again(
    run: Any, fake_server: Any
) -> None:
    result = run("GivesUpWatching", "relist", server=fake_server, sync_timeout=0.5)

    assert result.synced
    assert len(result.notes) == 2
    assert "after the server expired its watch (410 Gone)" in result.notes[0]
    assert "after the server dropped its watch connection" in result.notes[1]


def test_a_server_that_cannot_be_driven_ends_the_run_after_stopping_the_controller(
    run: Any, fake_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(namespace: str, rate: float | None = None) -> None:
        raise ServerError(f"POST /churn on the simulator failed with 404: {namespace}")

    monkeypatch.setattr(fake_server, "start_churn", refuse)

    with pytest.raises(ServerError, match="failed with 404: soak"):
        run("Watcher", "churn", server=fake_server)

    assert fake_server.names() == ["stop_churn"]
    assert not [t for t in threading.enumerate() if t.name == "watcher"]

"""``leakhunt soak`` end to end: the reference controllers and what it finds in them.

Each test runs the command a user would type, in a subprocess, against the
simulator process leakhunt starts, and reads the JSON report it writes. The
reference controllers in :mod:`harness.controllers` are the workloads: the
correct one must pass every scenario, and each leaky one must be caught with
the finding kind its docstring promises and the evidence that points at the
bug (the watch's URL, the thread's stack, the handler's source line, the
task's name). Soaks that go wrong are in test_soak_failures.py, mistakes in
what the user typed in test_soak_usage.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.leakhunt.cli.conftest import Soak

TARGETS = Path(__file__).parent.parent / "targets"


@pytest.mark.parametrize(
    "scenario",
    ["lifecycle", "churn", "idle-stop", "early-stop", "restart", "relist", "signal"],
)
def test_the_correct_controller_passes_every_scenario(
    soak: Soak, scenario: str
) -> None:
    run = soak(
        "harness.controllers.correct:controller",
        "--scenario",
        scenario,
        "--cycles",
        "20",
    )

    assert run.report is not None, run.stderr
    assert run.report["verdict"] == "pass", run.described()
    assert run.code == 0
    assert run.report["cycles"] == 20
    assert run.report["schema"] == "leakhunt.report/v1"


@pytest.mark.parametrize(
    ("controller", "scenario", "expected"),
    [
        ("informer_registry", "lifecycle", "object-growth"),
        ("unclosed_watch", "lifecycle", "watch-leak"),
        ("unjoined_worker", "lifecycle", "thread-leak"),
        ("apiclient_per_cycle", "lifecycle", "socket-leak"),
        ("informer_per_reconcile", "lifecycle", "thread-leak"),
        ("unscoped_watch", "lifecycle", "unscoped-watch"),
        ("blocking_handler", "churn", "blocking-handler"),
        ("periodic_resync", "churn", "relist-storm"),
        ("unthrottled_writes", "churn", "unthrottled-writes"),
    ],
)
def test_each_leaky_controller_is_caught_with_the_finding_its_bug_promises(
    soak: Soak, controller: str, scenario: str, expected: str
) -> None:
    run = soak(
        f"harness.controllers.{controller}:controller",
        "--scenario",
        scenario,
        "--cycles",
        "10",
    )

    assert run.report is not None, run.stderr
    assert expected in run.kinds(), run.described()
    assert run.report["verdict"] == "fail"
    assert run.code == 1


def test_a_watch_left_open_is_named_by_its_url_and_user_agent(soak: Soak) -> None:
    _, report, stderr = soak(
        "harness.controllers.unclosed_watch:controller", "--cycles", "6"
    )

    assert report is not None, stderr
    leak = next(f for f in report["findings"] if f["kind"] == "watch-leak")
    watch = leak["evidence"]["watches"][0]
    assert "watch=" in watch["url"]
    assert "/pods" in watch["url"]
    assert watch["userAgent"]


def test_a_leaked_thread_is_reported_with_its_name_and_stack(soak: Soak) -> None:
    _, report, stderr = soak(
        "harness.controllers.unjoined_worker:controller", "--cycles", "8"
    )

    assert report is not None, stderr
    leak = next(f for f in report["findings"] if f["kind"] == "thread-leak")
    threads = leak["evidence"]["threads"]
    assert any(thread["name"] == "leakhunt-unjoined-worker" for thread in threads)
    assert all(thread["stack"] for thread in threads)


def test_a_blocking_handler_is_shown_at_its_source_line(soak: Soak) -> None:
    _, report, stderr = soak(
        "harness.controllers.blocking_handler:controller",
        "--scenario",
        "churn",
        "--cycles",
        "5",
    )

    assert report is not None, stderr
    finding = next(f for f in report["findings"] if f["kind"] == "blocking-handler")
    frames = [frame["frame"] for frame in finding["evidence"]["handler_frames"]]
    assert "blocking_handler.py" in frames[0]
    assert "on_event" in frames[0]


def test_an_async_controller_passes_on_one_event_loop_across_cycles(
    soak: Soak,
) -> None:
    run = soak("harness.controllers.correct_async:controller")

    assert run.report is not None, run.stderr
    assert run.report["verdict"] == "pass", run.described()
    assert run.code == 0
    assert run.report["cycles"] == 30
    assert all(cycle["synced"] for cycle in run.report["meta"]["cycle_results"])


def test_the_asyncio_controller_passes_churn(soak: Soak) -> None:
    run = soak(
        "harness.controllers.correct_async:controller",
        "--scenario",
        "churn",
        "--cycles",
        "20",
    )

    assert run.report is not None, run.stderr
    assert run.report["verdict"] == "pass", run.described()
    assert run.code == 0


def test_a_kopf_operator_is_flagged_only_for_the_writes_of_its_first_start(
    soak: Soak,
) -> None:
    run = soak("harness.controllers.kopf_operator:controller", "--cycles", "6")

    assert run.report is not None, run.stderr
    cycles = run.report["meta"]["cycle_results"]
    assert all(cycle["synced"] for cycle in cycles), cycles
    assert not any(cycle["stop_timed_out"] for cycle in cycles)
    # kopf patches every pod twice the first time it sees it, with no
    # client-side rate limit (docs/controllers.md); it leaks nothing.
    assert run.kinds() == {"unthrottled-writes"}, run.described()
    [writes] = run.report["findings"]
    assert writes["evidence"]["busiest_cycle"] == 0
    assert max(writes["evidence"]["writes_per_second"][1:]) <= 25
    assert run.code == 1


def test_an_async_controller_that_leaves_a_task_is_caught_with_the_task_named(
    soak: Soak,
) -> None:
    code, report, stderr = soak(
        f"{TARGETS / 'forgotten_task.py'}:controller",
        "--cycles",
        "5",
        "--sync-timeout",
        "0.5",
    )

    assert report is not None, stderr
    leak = next(f for f in report["findings"] if f["kind"] == "task-leak")
    tasks = leak["evidence"]["tasks"]
    assert tasks
    assert tasks[0]["name"].startswith("resync-")
    assert "_resync_forever" in json.dumps(tasks[0])
    assert code == 1

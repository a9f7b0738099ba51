"""Server-side churn, seen through the real ``kubernetes`` client."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client import CoreV1Api

from harness.apiserver.process import SimulatorProcess
from harness.errors import ConfigurationError, ServerError
from harness.workload.churn import CHURN_POOL, CHURN_PREFIX
from harness.workload.control import Control

WatchEvents = Callable[..., list[dict[str, Any]]]

CHURNED = "leakhunt-0"
OTHER = "leakhunt-1"
SEEDED_IN_EACH = 20


def _revision(core: CoreV1Api, namespace: str = CHURNED) -> str:
    metadata = core.list_namespaced_pod(namespace, limit=1).metadata
    assert metadata is not None
    assert metadata.resource_version is not None
    return metadata.resource_version


def _pod_names(core: CoreV1Api, namespace: str) -> list[str]:
    return [
        str(pod.metadata.name)
        for pod in core.list_namespaced_pod(namespace).items
        if pod.metadata is not None
    ]


def _name(event: dict[str, Any]) -> str:
    name: str = event["raw_object"]["metadata"]["name"]
    return name


def test_a_watch_sees_churned_pods_added_modified_and_deleted_at_about_the_rate(
    control: Control, core: CoreV1Api, watch_events: WatchEvents
) -> None:
    rate, seconds = 40.0, 3
    since = _revision(core)

    control.start_churn(CHURNED, rate)
    events = watch_events(
        core.list_namespaced_pod,
        CHURNED,
        resource_version=since,
        label_selector="app=leakhunt",
        timeout_seconds=seconds,
    )
    control.stop_churn()

    types = Counter(event["type"] for event in events)
    assert types["ADDED"] > 0
    assert types["MODIFIED"] > 0
    assert types["DELETED"] > 0
    assert 0.5 * rate * seconds <= len(events) <= 1.5 * rate * seconds

    state = control.churn()
    assert 0.75 * rate <= state["operations"] / state["seconds"] <= 1.25 * rate

    revisions = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(set(revisions))


def test_churned_pods_look_like_the_seeded_ones(
    control: Control, core: CoreV1Api, watch_events: WatchEvents
) -> None:
    since = _revision(core)

    control.start_churn(CHURNED, 50)
    events = watch_events(
        core.list_namespaced_pod, CHURNED, resource_version=since, timeout_seconds=1
    )

    added = [e["raw_object"] for e in events if e["type"] == "ADDED"]
    assert added
    for pod in added:
        assert pod["metadata"]["name"].startswith(CHURN_PREFIX)
        assert pod["metadata"]["labels"]["app"] == "leakhunt"
        assert "leakhunt.dev/shard" in pod["metadata"]["labels"]
        assert pod["metadata"]["annotations"]["leakhunt.dev/churned"] == "true"
        assert pod["status"]["phase"] == "Running"


def test_updates_touch_both_churned_and_seeded_pods_in_metadata_and_status(
    control: Control, core: CoreV1Api, watch_events: WatchEvents
) -> None:
    since = _revision(core)

    control.start_churn(CHURNED, 100)
    events = watch_events(
        core.list_namespaced_pod, CHURNED, resource_version=since, timeout_seconds=2
    )

    modified = [e for e in events if e["type"] == "MODIFIED"]
    names = {_name(e) for e in modified}
    assert any(name.startswith(CHURN_PREFIX) for name in names)
    assert any(name.startswith("pod-") for name in names)

    ready_flips = {
        condition["status"]
        for e in modified
        for condition in e["raw_object"]["status"]["conditions"]
        if condition["type"] == "Ready"
    }
    assert ready_flips == {"True", "False"}


def test_deletes_take_only_pods_the_churn_created(
    control: Control, core: CoreV1Api, watch_events: WatchEvents
) -> None:
    since = _revision(core)

    control.start_churn(CHURNED, 200)
    events = watch_events(
        core.list_namespaced_pod, CHURNED, resource_version=since, timeout_seconds=1
    )
    control.stop_churn()

    deleted = {_name(e) for e in events if e["type"] == "DELETED"}
    assert deleted
    assert all(name.startswith(CHURN_PREFIX) for name in deleted)
    seeded = [n for n in _pod_names(core, CHURNED) if not n.startswith(CHURN_PREFIX)]
    assert len(seeded) == SEEDED_IN_EACH


def test_no_write_happens_once_stop_churn_returns(
    control: Control, simulator: SimulatorProcess
) -> None:
    control.start_churn(CHURNED, 500)
    time.sleep(0.5)

    control.stop_churn()
    stopped = control.churn()
    revision = simulator.control("GET", "/state")["revision"]
    time.sleep(0.5)

    assert stopped["running"] is False
    assert stopped["operations"] > 0
    assert control.churn()["operations"] == stopped["operations"]
    assert simulator.control("GET", "/state")["revision"] == revision


def test_the_pod_count_stays_bounded_across_many_operations_and_restarts(
    control: Control, core: CoreV1Api
) -> None:
    bound = SEEDED_IN_EACH + CHURN_POOL + 1
    operations = 0

    for _ in range(3):
        control.start_churn(CHURNED, 2000)
        time.sleep(0.5)
        assert len(_pod_names(core, CHURNED)) <= bound
        control.stop_churn()
        operations += control.churn()["operations"]

    assert operations > 20 * CHURN_POOL
    assert len(_pod_names(core, CHURNED)) <= bound


def test_starting_again_replaces_the_namespace_and_the_rate(
    control: Control, core: CoreV1Api, watch_events: WatchEvents
) -> None:
    control.start_churn(CHURNED, 100)
    time.sleep(0.5)

    control.start_churn(OTHER, 30)
    since = _revision(core)
    left_behind = watch_events(
        core.list_namespaced_pod, CHURNED, resource_version=since, timeout_seconds=1
    )

    state = control.churn()
    assert (state["running"], state["namespace"], state["rate"]) == (True, OTHER, 30)
    assert left_behind == []
    assert not [n for n in _pod_names(core, CHURNED) if n.startswith(CHURN_PREFIX)]
    assert [n for n in _pod_names(core, OTHER) if n.startswith(CHURN_PREFIX)]


def test_start_churn_without_a_rate_uses_the_client_churn_rate(
    simulator: SimulatorProcess,
) -> None:
    control = Control.from_simulator(simulator, churn_rate=7.0)
    try:
        control.start_churn(CHURNED)
        assert control.churn()["rate"] == 7.0
    finally:
        control.stop_churn()


def test_churn_in_a_missing_namespace_is_refused_with_404(control: Control) -> None:
    with pytest.raises(ServerError, match=r"404 .*namespaces \"nowhere\" not found"):
        control.start_churn("nowhere", 10)

    assert control.churn()["running"] is False


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"namespace": CHURNED, "rate": 0}, "rate: expected operations per second"),
        ({"namespace": CHURNED, "rate": -5}, "rate: expected operations per second"),
        ({"namespace": CHURNED, "rate": 1e9}, "at most 10000"),
        ({"namespace": CHURNED, "rate": "fast"}, "rate: expected a JSON object"),
        ({"namespace": CHURNED, "rate": True}, "rate: expected a JSON object"),
        ({"rate": 10}, "namespace: expected a JSON object"),
        ([CHURNED, 10], "expected a JSON object"),
    ],
)
def test_a_bad_churn_request_gets_400_saying_what_is_accepted(
    simulator: SimulatorProcess, body: object, complaint: str
) -> None:
    with pytest.raises(ServerError, match=f"failed with 400: .*{complaint}"):
        simulator.control("POST", "/churn", body)


def test_the_client_refuses_a_rate_that_is_not_above_zero(control: Control) -> None:
    with pytest.raises(ConfigurationError, match=r"above 0 .* got -1"):
        control.start_churn(CHURNED, -1)

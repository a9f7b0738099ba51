"""The control endpoints: faults on demand, state, watch registry."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client import CoreV1Api

from harness.apiserver.process import SimulatorProcess
from harness.errors import ServerError

Raw = Callable[..., tuple[int, Any]]


@pytest.fixture
def private_simulator() -> Iterator[SimulatorProcess]:
    """A simulator of its own, since faults affect every client."""
    with SimulatorProcess() as process:
        yield process


def test_forced_errors_answer_the_given_number_of_requests_then_stop(
    private_simulator: SimulatorProcess,
) -> None:
    private_simulator.control(
        "POST", "/faults", {"errorCode": 500, "errorSeconds": 60, "errorRequests": 2}
    )

    answers = []
    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        core: Any = CoreV1Api(api)
        for _ in range(3):
            try:
                core.list_namespaced_pod("leakhunt-0")
                answers.append((200, ""))
            except kubernetes.client.ApiException as exc:
                answers.append((exc.status, json.loads(exc.body or "{}")["reason"]))

    assert answers == [(500, "InternalError"), (500, "InternalError"), (200, "")]


def test_a_forced_429_is_retried_by_the_client_after_retry_after(
    private_simulator: SimulatorProcess,
) -> None:
    # NB: urllib3 honours Retry-After on 429 by itself, as client-go does.
    private_simulator.control(
        "POST", "/faults", {"errorCode": 429, "errorSeconds": 60, "errorRequests": 1}
    )

    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        pods = CoreV1Api(api).list_namespaced_pod("leakhunt-0")

    assert pods.items == []
    codes = [r["code"] for r in private_simulator.control("GET", "/audit")["items"]]
    assert codes[-2:] == [429, 200]


def test_faults_can_be_read_and_cleared(private_simulator: SimulatorProcess) -> None:
    set_to = private_simulator.control(
        "POST", "/faults", {"latencySeconds": 0.05, "errorCode": 500}
    )
    cleared = private_simulator.control("DELETE", "/faults")

    assert (set_to["latencySeconds"], set_to["errorCode"]) == (0.05, 500)
    assert (cleared["latencySeconds"], cleared["errorCode"]) == (0.0, None)


def test_an_unknown_fault_code_is_refused_with_the_accepted_ones(
    private_simulator: SimulatorProcess,
) -> None:
    with pytest.raises(ServerError, match="429, 500, 503, 504, got 418"):
        private_simulator.control("POST", "/faults", {"errorCode": 418})


def test_state_reports_the_revision_and_the_objects(
    private_simulator: SimulatorProcess,
) -> None:
    before = private_simulator.control("GET", "/state")
    compacted = private_simulator.compact()
    after = private_simulator.control("GET", "/state")

    assert before["objects"] == 3  # default, kube-system and leakhunt-0
    assert compacted == before["revision"]
    assert after["compactedRevision"] == before["revision"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("since=%C2%B2", "since: expected the seq of an audit record"),
        ("limit=many", "limit: expected how many records to return"),
    ],
)
def test_an_audit_query_that_is_not_a_whole_number_is_400(
    raw: Raw, query: str, says: str
) -> None:
    status, document = raw("GET", f"/leakhunt/v1/audit?{query}")

    assert (status, document["kind"], document["reason"]) == (
        400,
        "Status",
        "BadRequest",
    )
    assert says in document["message"]

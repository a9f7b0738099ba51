"""Reading the API server's ``/metrics`` under kube-apiserver's names."""

from __future__ import annotations

from typing import Any

import kubernetes.client
import pytest

from harness.apiserver.process import SimulatorProcess
from harness.errors import EXIT_USAGE
from leakhunt.errors import AccessDenied, ServerGone
from leakhunt.probes.apiserver import ApiServerProbe, parse_metrics

METRICS = """\
# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",resource="pods",scope="namespace",verb="LIST"} 3
apiserver_request_total{code="200",resource="pods",scope="cluster",verb="WATCH"} 2
apiserver_request_total{code="409",resource="pods",scope="namespace",verb="PATCH"} 1
# TYPE apiserver_registered_watchers gauge
apiserver_registered_watchers{group="",kind="Pod",version="v1"} 2
# TYPE apiserver_longrunning_requests gauge
apiserver_longrunning_requests{resource="pods",scope="cluster",verb="WATCH"} 2
"""


def test_request_counters_and_watch_gauges_are_read_by_verb_resource_and_scope() -> (
    None
):
    reading = parse_metrics(METRICS)

    assert reading.requests[("LIST", "pods", "namespace")] == 3
    assert reading.requests[("WATCH", "pods", "cluster")] == 2
    assert reading.requests[("PATCH", "pods", "namespace")] == 1
    assert reading.registered_watchers == 2
    assert reading.longrunning_watches == 2


def test_the_requests_of_a_cycle_are_the_difference_of_two_readings() -> None:
    before = parse_metrics(METRICS)
    after = parse_metrics(METRICS.replace('verb="LIST"} 3', 'verb="LIST"} 5'))

    assert after.requests_since(before) == {("LIST", "pods", "namespace"): 2}


def test_the_simulator_counts_the_requests_a_client_makes() -> None:
    with SimulatorProcess(objects=3) as simulator:
        probe = ApiServerProbe(simulator.configuration())
        try:
            before = probe.read()
            with kubernetes.client.ApiClient(simulator.configuration()) as api:
                kubernetes.client.CoreV1Api(api).list_namespaced_pod("leakhunt-0")
            after = probe.read()
        finally:
            probe.close()

    assert after.requests_since(before)[("LIST", "pods", "namespace")] == 1


def test_a_server_that_does_not_answer_is_said_to_have_stopped_answering() -> None:
    configuration = kubernetes.client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = False
    probe = ApiServerProbe(configuration)

    with pytest.raises(ServerGone) as caught:
        probe.read()
    probe.close()

    message = str(caught.value)
    assert message.startswith("the API server at http://127.0.0.1:9 stopped answering")
    assert "Connection refused" in message
    assert "/metrics" not in message


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "leakhunt needs the 'get' verb on the /metrics non-resource URL"),
        (401, "check the token or credentials of the kubeconfig's user"),
    ],
)
def test_a_server_that_refuses_metrics_says_what_permission_is_missing(
    refusing_cluster: Any, status: int, message: str
) -> None:
    cluster = refusing_cluster({("GET", "/metrics"): status})
    probe = ApiServerProbe(kubernetes.client.Configuration(host=cluster.url))

    with pytest.raises(AccessDenied) as caught:
        probe.read()
    probe.close()

    assert caught.value.exit_code == EXIT_USAGE
    assert f"answered GET /metrics with {status}" in str(caught.value)
    assert message in str(caught.value)

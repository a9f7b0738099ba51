"""Reading the API server's ``/metrics`` under kube-apiserver's names."""

from __future__ import annotations

import kubernetes.client
import pytest

from harness.apiserver.process import SimulatorProcess
from leakhunt.errors import LeakhuntError
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


def test_a_server_without_metrics_is_a_clear_error() -> None:
    configuration = kubernetes.client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = False
    probe = ApiServerProbe(configuration)

    with pytest.raises(LeakhuntError, match=r"metrics at http://127.0.0.1:9/metrics"):
        probe.read()
    probe.close()

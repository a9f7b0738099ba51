"""/metrics in kube-apiserver's names, and the audit of every request."""

from __future__ import annotations

import re
from typing import Any

import urllib3
from kubernetes.client import CoreV1Api

from harness.apiserver.process import SimulatorProcess


def _metrics(simulator: SimulatorProcess) -> str:
    response = urllib3.request(
        "GET",
        f"{simulator.url}/metrics",
        headers={"Authorization": f"Bearer {simulator.token}"},
    )
    assert response.status == 200
    return response.data.decode()


def _value(text: str, name: str, **labels: str) -> float:
    """Return the sample of ``name`` whose labels include ``labels``, or 0."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_request_total_counts_each_list_by_verb_resource_and_code(
    simulator: SimulatorProcess, core: CoreV1Api
) -> None:
    labels = {"verb": "LIST", "resource": "pods", "scope": "namespace", "code": "200"}
    before = _value(_metrics(simulator), "apiserver_request_total", **labels)

    core.list_namespaced_pod("leakhunt-1")
    core.list_namespaced_pod("leakhunt-1")

    after = _value(_metrics(simulator), "apiserver_request_total", **labels)
    assert after - before == 2


def test_open_watches_show_as_longrunning_requests_and_registered_watchers(
    simulator: SimulatorProcess, core: CoreV1Api, namespace: str
) -> None:
    response: Any = core.list_namespaced_secret(
        namespace, watch=True, timeout_seconds=30, _preload_content=False
    )
    try:
        text = _metrics(simulator)
    finally:
        response.close()
        response.release_conn()

    longrunning = _value(
        text,
        "apiserver_longrunning_requests",
        verb="WATCH",
        resource="secrets",
        scope="namespace",
    )
    registered = _value(
        text, "apiserver_registered_watchers", kind="Secret", version="v1"
    )
    assert (longrunning, registered) == (1, 1)


def test_the_audit_records_who_asked_for_what(
    simulator: SimulatorProcess, core: CoreV1Api
) -> None:
    core.list_namespaced_pod("leakhunt-0", label_selector="app=leakhunt", limit=5)

    records = simulator.control("GET", "/audit?limit=50")["items"]
    ours = [
        r
        for r in records
        if r["verb"] == "list" and r["label_selector"] == "app=leakhunt"
    ]
    assert ours
    record = ours[-1]
    assert (record["namespace"], record["limit"], record["code"]) == (
        "leakhunt-0",
        "5",
        200,
    )
    assert record["bytes_sent"] > 5 * 1000
    assert record["user_agent"].startswith("OpenAPI-Generator")


def test_stored_objects_are_counted_per_resource(simulator: SimulatorProcess) -> None:
    text = _metrics(simulator)

    assert _value(text, "apiserver_storage_objects", resource="pods") >= 40

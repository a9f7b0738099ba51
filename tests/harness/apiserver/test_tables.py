"""Tables for kubectl: columns, cells, and ages as kubectl prints them."""

from __future__ import annotations

import calendar
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import urllib3

from harness.apiserver.process import SimulatorProcess
from harness.apiserver.resources import BUILTIN_RESOURCES
from harness.apiserver.tables import age, table, wants_table
from harness.workload.seed import pod

PODS = next(r for r in BUILTIN_RESOURCES if r.plural == "pods")

Raw = Callable[..., tuple[int, Any]]

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
"""The Accept header of ``kubectl get`` (and ``get -w``) without ``-o name``."""


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "5s"), (119, "119s"), (600, "10m"), (3 * 3600, "3h"), (4 * 86400, "4d")],
)
def test_ages_read_like_kubectl_ages(seconds: int, shown: str) -> None:
    now = calendar.timegm(time.strptime("2026-01-10T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - seconds))

    assert age(created, now) == shown


def test_a_pod_table_has_kubectls_columns_and_the_pods_metadata() -> None:
    body = orjson.loads(
        table(PODS, [pod("pod-1", "ns", 1)], {"resourceVersion": "9"}, "Metadata")
    )

    columns = [c["name"] for c in body["columnDefinitions"]]
    row = body["rows"][0]
    assert columns == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert row["cells"][:4] == ["pod-1", "2/2", "Running", 0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["namespace"] == "ns"


def test_kubectls_accept_header_asks_for_a_table() -> None:
    accept = (
        "application/json;as=Table;v=v1;g=meta.k8s.io,"
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
    )

    assert wants_table(accept)
    assert not wants_table("application/json")


def test_a_pod_status_of_the_wrong_shapes_renders_what_it_can() -> None:
    malformed = pod("pod-1", "ns", 1)
    malformed["spec"]["containers"] = "not a list"
    malformed["status"] = {
        "phase": {"not": "a string"},
        "containerStatuses": ["bad", {"ready": True, "restartCount": "many"}, 7],
    }

    body = orjson.loads(table(PODS, [malformed], {}, "None"))

    assert body["rows"][0]["cells"][:4] == ["pod-1", "1/0", "Unknown", 0]


class _TableWatch:
    """A Table watch, as ``kubectl get -w`` opens it, read until it times out."""

    def __init__(self, simulator: SimulatorProcess, path: str, seconds: int) -> None:
        self.simulator = simulator
        self.path = path
        self.lines: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, args=(seconds,))
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self._registered() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _registered(self) -> bool:
        return any(
            w["path"].startswith(self.path) for w in self.simulator.open_watches()
        )

    def _read(self, seconds: int) -> None:
        response = urllib3.request(
            "GET",
            f"{self.simulator.url}{self.path}?watch=1&timeoutSeconds={seconds}",
            headers={
                "Authorization": f"Bearer {self.simulator.token}",
                "Accept": TABLE,
            },
            timeout=seconds + 10,
        )
        self.lines = [orjson.loads(line) for line in response.data.splitlines()]

    def rows(self) -> list[tuple[str, list[Any]]]:
        """Wait for the watch to end; return (event type, cells) of each row."""
        self.thread.join()
        return [
            (line["type"], row["cells"])
            for line in self.lines
            for row in line["object"].get("rows", [])
        ]


def test_a_table_watch_sees_an_update_as_a_modified_row(
    simulator: SimulatorProcess, core: Any, namespace: str
) -> None:
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": "p"}, "spec": {"containers": []}}
    )
    watch = _TableWatch(simulator, f"/api/v1/namespaces/{namespace}/pods", 2)

    core.patch_namespaced_pod_status("p", namespace, {"status": {"phase": "Running"}})

    assert [(kind, cells[:3]) for kind, cells in watch.rows()] == [
        ("ADDED", ["p", "0/0", "Pending"]),
        ("MODIFIED", ["p", "0/0", "Running"]),
    ]


def test_a_malformed_pod_status_is_stored_and_tables_still_render(
    simulator: SimulatorProcess, raw: Raw, core: Any, namespace: str
) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": "p"}, "spec": {"containers": []}}
    )
    watch = _TableWatch(simulator, pods, 2)

    # The kubernetes client cannot read such a pod back: the status is sent raw.
    merge = {"Content-Type": "application/merge-patch+json"}
    patched, _ = raw(
        "PATCH",
        f"{pods}/p/status",
        b'{"status": {"containerStatuses": ["bad"]}}',
        headers=merge,
    )
    labelled, _ = raw(
        "PATCH", f"{pods}/p", b'{"metadata": {"labels": {"a": "b"}}}', headers=merge
    )
    listed, table_body = raw("GET", pods, headers={"Accept": TABLE})

    assert (patched, labelled, listed) == (200, 200, 200)
    assert table_body["rows"][0]["cells"][:3] == ["p", "0/0", "Pending"]
    assert [kind for kind, _ in watch.rows()] == ["ADDED", "MODIFIED", "MODIFIED"]

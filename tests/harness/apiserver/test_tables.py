"""Tables for kubectl: columns, cells, and ages as kubectl prints them."""

from __future__ import annotations

import calendar
import time

import orjson
import pytest

from harness.apiserver.resources import BUILTIN_RESOURCES
from harness.apiserver.tables import age, table, wants_table
from harness.workload.seed import pod

PODS = next(r for r in BUILTIN_RESOURCES if r.plural == "pods")


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

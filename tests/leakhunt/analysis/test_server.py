"""Findings from the API server's side: open watches, re-lists, scope, writes."""

from __future__ import annotations

from collections import Counter

from leakhunt.analysis.server import (
    MAX_WRITES_PER_SECOND,
    WRITE_BURST_ALLOWANCE,
    ServerEvidence,
    server_findings,
)
from leakhunt.probes.apiserver import RequestKey, ServerReading

QUIET: Counter[RequestKey] = Counter(
    {("LIST", "pods", "namespace"): 1, ("WATCH", "pods", "namespace"): 1}
)


def feed(
    evidence: ServerEvidence,
    requests: Counter[RequestKey],
    cycles: int,
    *,
    watches: int = 0,
    seconds: float = 1.0,
) -> None:
    for _ in range(cycles):
        evidence.add_cycle(
            requests,
            ServerReading(),
            [{"url": "/api/v1/pods?watch=true", "userAgent": "me"}] * watches,
            cycle_seconds=seconds,
        )


def test_a_controller_that_lists_and_watches_once_per_cycle_is_clean() -> None:
    evidence = ServerEvidence()
    feed(evidence, QUIET, 10)

    assert server_findings(evidence, 10) == []


def test_a_watch_left_open_after_a_stop_is_a_watch_leak_with_its_url() -> None:
    evidence = ServerEvidence()
    feed(evidence, QUIET, 9)
    feed(evidence, QUIET, 1, watches=1)

    [finding] = server_findings(evidence, 10)

    assert finding.kind == "watch-leak"
    assert finding.evidence["watches"] == [
        {"url": "/api/v1/pods?watch=true", "userAgent": "me"}
    ]
    assert "1 of 10 stops" in finding.message


def test_listing_every_few_hundred_milliseconds_is_a_relist_storm() -> None:
    evidence = ServerEvidence()
    feed(evidence, Counter({("LIST", "pods", "namespace"): 7}), 10)

    [finding] = server_findings(evidence, 10)

    assert finding.kind == "relist-storm"
    assert finding.per_cycle == 7


def test_a_cluster_wide_watch_of_pods_is_unscoped_but_of_nodes_is_not() -> None:
    pods = ServerEvidence()
    feed(pods, Counter({("WATCH", "pods", "cluster"): 1}), 5)
    nodes = ServerEvidence()
    feed(nodes, Counter({("WATCH", "nodes", "cluster"): 1}), 5)

    assert [f.kind for f in server_findings(pods, 5)] == ["unscoped-watch"]
    assert server_findings(nodes, 5) == []


def test_writes_within_a_burst_and_a_client_side_limit_are_not_unthrottled() -> None:
    limited = ServerEvidence()
    writes = WRITE_BURST_ALLOWANCE + int(MAX_WRITES_PER_SECOND * 2) - 1
    feed(limited, Counter({("PATCH", "pods", "namespace"): writes}), 5, seconds=2.0)
    flooding = ServerEvidence()
    feed(flooding, Counter({("PATCH", "pods", "namespace"): 400}), 5, seconds=2.0)

    assert server_findings(limited, 5) == []
    [finding] = server_findings(flooding, 5)
    assert finding.kind == "unthrottled-writes"
    assert finding.per_cycle == (400 - WRITE_BURST_ALLOWANCE) / 2.0

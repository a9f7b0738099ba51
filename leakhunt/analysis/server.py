"""Findings only the API server can show: watches left open, re-list storms,
unscoped watches and unthrottled writes.

The soak conductor feeds :class:`ServerEvidence` one cycle at a time with the
request counters from ``/metrics`` (the same names on kube-apiserver and on
the simulator), the watches still open after the stop and, on the simulator,
the audit of the cycle's requests; :func:`server_findings` judges them.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leakhunt.probes.apiserver import RequestKey, ServerReading
from leakhunt.report.model import (
    RELIST_STORM,
    UNSCOPED_WATCH,
    UNTHROTTLED_WRITES,
    WATCH_LEAK,
    Finding,
)

logger = logging.getLogger(__name__)

MAX_LISTS_PER_CYCLE = 3
"""LIST requests a cycle may make before re-listing counts as a storm.

A cycle lists once at start; the ``restart`` scenario starts twice and the
``relist`` scenario forces one more after a 410, so three is the most a
correct controller needs.
"""

MAX_WRITES_PER_SECOND = 25.0
"""Sustained writes per second, beyond the burst, that count as unthrottled.

client-go's default client-side limit is 5 queries per second with bursts of
10, controller-runtime's 20 with bursts of 30. A controller writing faster
than 25 per second over a whole cycle, once a burst is allowed for, has no
limiter at all.
"""

WRITE_BURST_ALLOWANCE = 30
"""Writes per cycle forgiven as a burst (controller-runtime's default burst)."""

MAX_EXAMPLES = 5
"""Example URLs and watches kept as evidence per finding."""

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION"})

CLUSTER_SCOPED = frozenset(
    {
        "namespaces",
        "nodes",
        "customresourcedefinitions",
        "persistentvolumes",
        "clusterroles",
        "clusterrolebindings",
        "storageclasses",
        "apiservices",
        "priorityclasses",
    }
)
"""Resources that only exist cluster-wide, where a cluster-scope watch is right."""


def _is_unscoped(key: RequestKey) -> bool:
    verb, resource, scope = key
    return (
        verb in {"LIST", "WATCH"}
        and scope == "cluster"
        and (resource not in CLUSTER_SCOPED)
    )


@dataclass
class ServerEvidence:
    """The server's view of every cycle so far, kept small."""

    lists: list[int] = field(default_factory=list)
    write_rates: list[float] = field(default_factory=list)
    unscoped: list[int] = field(default_factory=list)
    watches_left: list[int] = field(default_factory=list)
    watch_examples: list[dict[str, Any]] = field(default_factory=list)
    unscoped_examples: list[str] = field(default_factory=list)
    writers: Counter[str] = field(default_factory=Counter)

    def add_cycle(
        self,
        requests: Mapping[RequestKey, int],
        reading: ServerReading,
        open_watches: list[dict[str, Any]],
        *,
        cycle_seconds: float,
        audit: Iterable[Mapping[str, Any]] = (),
    ) -> dict[str, float]:
        """Record one cycle and return its server-side signals."""
        lists = sum(n for (verb, _, _), n in requests.items() if verb == "LIST")
        watches = sum(n for (verb, _, _), n in requests.items() if verb == "WATCH")
        writes = sum(n for (verb, _, _), n in requests.items() if verb in WRITE_VERBS)
        unscoped = sum(n for key, n in requests.items() if _is_unscoped(key))

        self.lists.append(lists)
        sustained = max(0, writes - WRITE_BURST_ALLOWANCE)
        self.write_rates.append(sustained / cycle_seconds if cycle_seconds > 0 else 0.0)
        self.unscoped.append(unscoped)
        self.watches_left.append(len(open_watches))
        for watch in open_watches:
            if len(self.watch_examples) < MAX_EXAMPLES:
                self.watch_examples.append(watch)
        for record in audit:
            self._note(record)

        return {
            "server_watches_open": float(len(open_watches)),
            "server_watchers_registered": float(reading.registered_watchers),
            "requests_list": float(lists),
            "requests_watch": float(watches),
            "requests_write": float(writes),
            "requests_unscoped": float(unscoped),
        }

    def _note(self, record: Mapping[str, Any]) -> None:
        verb = str(record.get("verb", "")).lower()
        if verb in {"create", "update", "patch", "delete", "deletecollection"}:
            self.writers[str(record.get("user_agent", ""))] += 1
        if (
            verb in {"list", "watch"}
            and record.get("scope") == "cluster"
            and record.get("resource") not in CLUSTER_SCOPED
            and len(self.unscoped_examples) < MAX_EXAMPLES
        ):
            query = []
            for name in ("label_selector", "field_selector"):
                if record.get(name):
                    query.append(f"{name}={record[name]}")
            url = f"{verb.upper()} {record.get('path', '')}"
            if query:
                url += " (" + ", ".join(query) + ")"
            if url not in self.unscoped_examples:
                self.unscoped_examples.append(url)


def server_findings(evidence: ServerEvidence, cycles: int) -> list[Finding]:
    """Judge the server's view of a soak of ``cycles`` cycles."""
    findings: list[Finding] = []
    if cycles == 0:
        return findings

    left = evidence.watches_left
    if any(left):
        affected = sum(1 for n in left if n)
        findings.append(
            Finding(
                kind=WATCH_LEAK,
                signal="server_watches_open",
                per_cycle=left[-1] / cycles,
                unit="watches",
                message=(
                    f"{left[-1]} watch(es) still open on the API server after the "
                    f"last stop; watches were left open after {affected} of "
                    f"{cycles} stops"
                ),
                evidence={
                    "open_after_each_stop": left,
                    "watches": evidence.watch_examples,
                },
            )
        )

    # The first cycle may list more while caches warm; judge the rest.
    steady = evidence.lists[1:] or evidence.lists
    lists = statistics.median(steady)
    if lists > MAX_LISTS_PER_CYCLE:
        findings.append(
            Finding(
                kind=RELIST_STORM,
                signal="requests_list",
                per_cycle=float(lists),
                unit="requests",
                message=(
                    f"the controller sends {lists:g} LIST requests per cycle "
                    f"(median); a controller that resumes its watch from the last "
                    f"resourceVersion lists once, at most {MAX_LISTS_PER_CYCLE}"
                ),
                evidence={"lists_per_cycle": evidence.lists},
            )
        )

    if any(evidence.unscoped):
        findings.append(
            Finding(
                kind=UNSCOPED_WATCH,
                signal="requests_unscoped",
                per_cycle=sum(evidence.unscoped) / cycles,
                unit="requests",
                message=(
                    "the controller lists or watches a namespaced resource across "
                    "the whole cluster; scope it to its namespace and filter with "
                    "a label or field selector on the server"
                ),
                evidence={
                    "unscoped_per_cycle": evidence.unscoped,
                    "requests": evidence.unscoped_examples,
                },
            )
        )

    rate = max(evidence.write_rates)
    busiest = evidence.write_rates.index(rate)
    if rate > MAX_WRITES_PER_SECOND:
        findings.append(
            Finding(
                kind=UNTHROTTLED_WRITES,
                signal="requests_write",
                per_cycle=rate,
                unit="writes/s",
                message=(
                    f"the controller wrote {rate:.0f} times per second beyond a "
                    f"burst of {WRITE_BURST_ALLOWANCE} in its busiest cycle (cycle "
                    f"{busiest}); above {MAX_WRITES_PER_SECOND:.0f}/s it has no "
                    "client-side rate limit"
                ),
                evidence={
                    "busiest_cycle": busiest,
                    "writes_per_second": [round(r, 1) for r in evidence.write_rates],
                    "user_agents": dict(evidence.writers.most_common(MAX_EXAMPLES)),
                },
            )
        )
    return findings

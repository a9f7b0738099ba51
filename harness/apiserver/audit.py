"""The audit of every request and ``/metrics`` under kube-apiserver's names.

The audit keeps counters (bounded by the label values kube-apiserver itself
uses) and the most recent requests in a ring buffer, so a simulator that
serves millions of requests holds the same memory as one that served a few.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from harness.apiserver.resources import ResourceType
from harness.apiserver.watchers import Watcher

logger = logging.getLogger(__name__)

AUDIT_CAPACITY = 10_000
"""Requests kept in the audit ring buffer; older ones survive only as counters."""

USER_AGENT_LIMIT = 256
"""Distinct user agents counted separately; the rest are counted as ``other``."""

METRIC_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETECOLLECTION",
}
"""The ``verb`` label kube-apiserver's request metrics give each API verb."""


@dataclass(slots=True)
class AuditRecord:
    """AuditRecord is one request as the audit remembers it."""

    time: float
    method: str
    path: str
    verb: str
    group: str
    version: str
    resource: str
    subresource: str
    scope: str
    namespace: str
    name: str
    label_selector: str
    field_selector: str
    resource_version: str
    limit: str
    code: int
    bytes_sent: int
    duration: float
    user_agent: str
    seq: int = 0
    """The record's place in the audit: 1 for the first request, then +1 each."""

    def describe(self) -> dict[str, Any]:
        """Return the record as the control endpoint lists it."""
        return asdict(self)


_RequestKey = tuple[str, str, str, str, str, str, int]


class Audit:
    """Audit counts every request and remembers the most recent ones."""

    def __init__(self, capacity: int = AUDIT_CAPACITY) -> None:
        self.records: deque[AuditRecord] = deque(maxlen=capacity)
        self._requests: dict[_RequestKey, int] = {}
        self._user_agents: dict[str, int] = {}
        self._bytes_sent = 0
        self.last_seq = 0
        """The sequence number of the latest request recorded."""

    def record(self, record: AuditRecord) -> None:
        """Count one finished request and remember it."""
        self.last_seq += 1
        record.seq = self.last_seq
        self.records.append(record)
        key = (
            METRIC_VERBS.get(record.verb, record.method),
            record.group,
            record.version,
            record.resource,
            record.subresource,
            record.scope,
            record.code,
        )
        self._requests[key] = self._requests.get(key, 0) + 1
        self._bytes_sent += record.bytes_sent

        agent = record.user_agent
        if (
            agent not in self._user_agents
            and len(self._user_agents) >= USER_AGENT_LIMIT
        ):
            agent = "other"
        self._user_agents[agent] = self._user_agents.get(agent, 0) + 1

    def recent(
        self, limit: int | None = None, since: int | None = None
    ) -> list[AuditRecord]:
        """Return the remembered requests, oldest first, at most ``limit``.

        With ``since``, only the requests after that sequence number, and the
        oldest ``limit`` of them, so a poller can page forward without loss;
        without it, the newest ``limit``.
        """
        if since is None:
            records = list(self.records)
            return records[-limit:] if limit else records

        # NB: sequence numbers have no gaps, so the records after ``since``
        # are the last ``last_seq - since`` ones: no need to scan the buffer.
        newer = min(max(self.last_seq - since, 0), len(self.records))
        records = list(itertools.islice(reversed(self.records), newer))
        records.reverse()
        return records[:limit] if limit else records

    def request_counts(self) -> dict[_RequestKey, int]:
        """Return request counts by (verb, group, version, resource, ...)."""
        return dict(self._requests)

    def render(
        self,
        watchers: Iterable[Watcher],
        stored: Mapping[ResourceType, int],
    ) -> str:
        """Return the Prometheus text exposition of the simulator's metrics."""
        watchers = list(watchers)
        lines = [
            "# HELP apiserver_request_total Counter of apiserver requests broken "
            "out for each verb, dry run value, group, version, resource, scope, "
            "component, and HTTP response code.",
            "# TYPE apiserver_request_total counter",
        ]
        for (verb, group, version, resource, sub, scope, code), count in sorted(
            self._requests.items()
        ):
            labels = _labels(
                code=str(code),
                component="apiserver",
                dry_run="",
                group=group,
                resource=resource,
                scope=scope,
                subresource=sub,
                verb=verb,
                version=version,
            )
            lines.append(f"apiserver_request_total{labels} {count}")

        lines += [
            "# HELP apiserver_longrunning_requests Gauge of all active long-running "
            "apiserver requests broken out by verb, group, version, resource, "
            "scope and component.",
            "# TYPE apiserver_longrunning_requests gauge",
        ]
        longrunning: dict[tuple[str, str, str, str], int] = {}
        registered: dict[tuple[str, str, str], int] = {}
        for watcher in watchers:
            r = watcher.resource
            scope = "namespace" if watcher.namespace is not None else "cluster"
            key = (r.group, r.version, r.plural, scope)
            longrunning[key] = longrunning.get(key, 0) + 1
            kind_key = (r.group, r.kind, r.version)
            registered[kind_key] = registered.get(kind_key, 0) + 1
        for (group, version, resource, scope), count in sorted(longrunning.items()):
            labels = _labels(
                component="apiserver",
                group=group,
                resource=resource,
                scope=scope,
                subresource="",
                verb="WATCH",
                version=version,
            )
            lines.append(f"apiserver_longrunning_requests{labels} {count}")

        lines += [
            "# HELP apiserver_registered_watchers Number of currently registered "
            "watchers for a given resources",
            "# TYPE apiserver_registered_watchers gauge",
        ]
        for (group, kind, version), count in sorted(registered.items()):
            labels = _labels(group=group, kind=kind, version=version)
            lines.append(f"apiserver_registered_watchers{labels} {count}")

        lines += [
            "# HELP apiserver_storage_objects Number of stored objects at the time "
            "of last check split by kind.",
            "# TYPE apiserver_storage_objects gauge",
        ]
        for served, count in sorted(stored.items(), key=lambda kv: kv[0].key):
            name = f"{served.plural}.{served.group}" if served.group else served.plural
            lines.append(f"apiserver_storage_objects{_labels(resource=name)} {count}")

        lines += [
            "# HELP leakhunt_apiserver_response_bytes_total Bytes of response "
            "bodies sent, watch streams included.",
            "# TYPE leakhunt_apiserver_response_bytes_total counter",
            f"leakhunt_apiserver_response_bytes_total {self._bytes_sent}",
            "# HELP leakhunt_apiserver_requests_by_user_agent_total Requests per "
            "client user agent.",
            "# TYPE leakhunt_apiserver_requests_by_user_agent_total counter",
        ]
        for agent, count in sorted(self._user_agents.items()):
            labels = _labels(user_agent=agent)
            lines.append(
                f"leakhunt_apiserver_requests_by_user_agent_total{labels} {count}"
            )
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def new_record(method: str, path: str, user_agent: str) -> AuditRecord:
    """Return a record for a request that has just arrived."""
    return AuditRecord(
        time=time.time(),
        method=method,
        path=path,
        verb="",
        group="",
        version="",
        resource="",
        subresource="",
        scope="",
        namespace="",
        name="",
        label_selector="",
        field_selector="",
        resource_version="",
        limit="",
        code=0,
        bytes_sent=0,
        duration=0.0,
        user_agent=user_agent,
    )

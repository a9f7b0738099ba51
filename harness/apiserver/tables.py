"""Server-side printing: ``meta.k8s.io/v1`` Tables, as ``kubectl get`` asks for."""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from harness.apiserver.resources import ResourceType

logger = logging.getLogger(__name__)

Row = Callable[[dict[str, Any]], list[Any]]

_NAME = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE = {
    "name": "Age",
    "type": "string",
    "format": "",
    "description": "Time since the object was created.",
    "priority": 0,
}


def wants_table(accept: str) -> bool:
    """Tell whether an Accept header asks for a Table rather than the objects."""
    return "as=Table" in accept


def age(timestamp: str | None, now: float | None = None) -> str:
    """Return a creationTimestamp as kubectl shows ages: ``5s``, ``3m``, ``2d``."""
    if not timestamp:
        return "<unknown>"
    try:
        created = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    seconds = int((time.time() if now is None else now) - created)
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 120):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _column(name: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": "",
        "description": description,
        "priority": 0,
    }


def _pod_row(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    containers = (obj.get("spec") or {}).get("containers") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = status.get("phase", "Unknown")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{len(containers)}", phase, restarts]


def _namespace_row(obj: dict[str, Any]) -> list[Any]:
    return [(obj.get("status") or {}).get("phase", "")]


def _deployment_row(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    return [
        f"{status.get('readyReplicas', 0)}/{wanted}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
    ]


_EXTRA: dict[tuple[str, str], tuple[list[dict[str, Any]], Row]] = {
    ("", "pods"): (
        [
            _column("Ready", "Ready containers out of all containers."),
            _column("Status", "The phase of the pod."),
            _column("Restarts", "Container restarts.", "integer"),
        ],
        _pod_row,
    ),
    ("", "namespaces"): (
        [_column("Status", "The phase of the namespace.")],
        _namespace_row,
    ),
    ("apps", "deployments"): (
        [
            _column("Ready", "Ready replicas out of desired replicas."),
            _column("Up-to-date", "Updated replicas.", "integer"),
            _column("Available", "Available replicas.", "integer"),
        ],
        _deployment_row,
    ),
}


def table(
    resource: ResourceType,
    objects: Iterable[dict[str, Any]],
    metadata: dict[str, Any],
    include_object: str,
) -> bytes:
    """Return a Table of the objects, with the columns kubectl shows for them."""
    extra_columns, extra_row = _EXTRA.get(resource.key, ([], None))
    rows = [_row(obj, extra_row, include_object) for obj in objects]
    body = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [_NAME, *extra_columns, _AGE],
        "rows": rows,
    }
    return orjson.dumps(body)


def _row(
    obj: dict[str, Any], extra_row: Row | None, include_object: str
) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    cells: list[Any] = [meta.get("name", "")]
    if extra_row is not None:
        cells.extend(extra_row(obj))
    cells.append(age(meta.get("creationTimestamp")))

    row: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        row["object"] = obj
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
        }
    return row

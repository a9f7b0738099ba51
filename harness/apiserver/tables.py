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


# NB: without schema validation a status may hold anything a client wrote;
# the row shows what it can make sense of and defaults the rest, as a Table
# that fails would fail every `kubectl get` of the resource.


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _whole(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) else default


def _pod_row(obj: dict[str, Any]) -> list[Any]:
    status = _section(obj, "status")
    statuses = _items(status.get("containerStatuses"))
    containers = _section(obj, "spec").get("containers")
    wanted = len(containers) if isinstance(containers, list) else 0

    ready = sum(1 for s in statuses if s.get("ready") is True)
    restarts = sum(_whole(s.get("restartCount")) for s in statuses)
    phase = _text(status.get("phase"), "Unknown")
    if _section(obj, "metadata").get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{wanted}", phase, restarts]


def _namespace_row(obj: dict[str, Any]) -> list[Any]:
    return [_text(_section(obj, "status").get("phase"), "")]


def _deployment_row(obj: dict[str, Any]) -> list[Any]:
    status = _section(obj, "status")
    wanted = _whole(_section(obj, "spec").get("replicas"), 1)
    return [
        f"{_whole(status.get('readyReplicas'))}/{wanted}",
        _whole(status.get("updatedReplicas")),
        _whole(status.get("availableReplicas")),
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
    meta = _section(obj, "metadata")
    cells: list[Any] = [_text(meta.get("name"), "")]
    if extra_row is not None:
        cells.extend(extra_row(obj))
    cells.append(age(_text(meta.get("creationTimestamp"), "")))

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

"""The control surface under ``/leakhunt/v1``: watches, faults, churn, audit.

Tests and the soak conductor use these to look at the conversation from the
server's side (which watches are open, who asked for what) and to disturb it
(compact the history, drop or expire every watch, inject latency or errors).
They sit behind the same bearer token as the API.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from harness.apiserver import status as errors
from harness.apiserver.handlers import json_response, read_json
from harness.apiserver.list_options import whole_number
from harness.workload import churn

if TYPE_CHECKING:
    from harness.apiserver.server import Simulator

logger = logging.getLogger(__name__)

PREFIX = "/leakhunt/v1"
"""Where the control endpoints live."""


def _reply(document: Any) -> web.Response:
    return json_response(orjson.dumps(document))


async def handle(
    simulator: Simulator, request: web.Request, path: str
) -> web.StreamResponse:
    """Answer one control request."""
    route = (request.method, path.removeprefix(PREFIX))
    action = _ROUTES.get(route) or simulator.control_routes.get(route)
    if action is None:
        raise errors.path_not_found(path)
    return _reply(await action(simulator, request))


async def _watches(simulator: Simulator, request: web.Request) -> Any:
    watches = simulator.store.watches.open_watches()
    return {"items": [watcher.describe() for watcher in watches]}


async def _compact(simulator: Simulator, request: web.Request) -> Any:
    return {"compactedRevision": simulator.store.compact()}


async def _drop(simulator: Simulator, request: web.Request) -> Any:
    return {"dropped": simulator.store.watches.drop_all()}


async def _expire(simulator: Simulator, request: web.Request) -> Any:
    store = simulator.store
    return {"expired": store.watches.expire_all(store.revision)}


async def _state(simulator: Simulator, request: web.Request) -> Any:
    store = simulator.store
    return {
        "revision": store.revision,
        "compactedRevision": store.compacted_revision,
        "objects": store.count(),
        "openWatches": len(store.watches.open_watches()),
    }


def _whole_number(request: web.Request, name: str, meaning: str) -> int | None:
    text = request.query.get(name)
    if text is None:
        return None
    number = whole_number(text)
    if number is None:
        raise errors.bad_request(
            f"{name}: expected {meaning}, a whole number such as 120, got {text!r}"
        )
    return number


async def _audit(simulator: Simulator, request: web.Request) -> Any:
    limit = _whole_number(request, "limit", "how many records to return")
    since = _whole_number(request, "since", "the seq of an audit record")
    records = simulator.audit.recent(limit, since=since)
    return {
        "lastSeq": simulator.audit.last_seq,
        "items": [record.describe() for record in records],
    }


async def _faults(simulator: Simulator, request: web.Request) -> Any:
    return simulator.faults.describe()


async def _clear_faults(simulator: Simulator, request: web.Request) -> Any:
    simulator.faults.clear()
    return simulator.faults.describe()


async def _set_faults(simulator: Simulator, request: web.Request) -> Any:
    body = await read_json(request, "faults request")
    if not isinstance(body, dict):
        raise errors.bad_request(
            'expected a JSON object such as {"latencySeconds": 0.2} or '
            '{"errorCode": 429, "errorSeconds": 5}'
        )

    latency = body.get("latencySeconds")
    if latency is not None:
        if not isinstance(latency, int | float) or latency < 0:
            raise errors.bad_request(
                f"latencySeconds: expected a non-negative number, got {latency!r}"
            )
        simulator.faults.latency = float(latency)

    code = body.get("errorCode")
    if code is not None:
        seconds = body.get("errorSeconds", 3600.0)
        requests = body.get("errorRequests")
        if not isinstance(seconds, int | float) or seconds <= 0:
            raise errors.bad_request(
                f"errorSeconds: expected a positive number, got {seconds!r}"
            )
        if requests is not None and (not isinstance(requests, int) or requests < 1):
            raise errors.bad_request(
                f"errorRequests: expected a positive integer, got {requests!r}"
            )
        try:
            simulator.faults.fail(int(code), float(seconds), requests)
        except (TypeError, ValueError) as exc:
            raise errors.bad_request(f"errorCode: {exc}") from exc
    return simulator.faults.describe()


Action = Callable[["Simulator", web.Request], Awaitable[Any]]
"""A control endpoint: answers with a JSON-serializable document."""

_ROUTES: dict[tuple[str, str], Action] = {
    ("GET", "/watches"): _watches,
    ("POST", "/watches/drop"): _drop,
    ("POST", "/watches/expire"): _expire,
    ("POST", "/compact"): _compact,
    ("GET", "/state"): _state,
    ("GET", "/audit"): _audit,
    ("GET", "/faults"): _faults,
    ("POST", "/faults"): _set_faults,
    ("DELETE", "/faults"): _clear_faults,
    ("GET", "/churn"): churn.show,
    ("POST", "/churn"): churn.start,
    ("DELETE", "/churn"): churn.stop,
}

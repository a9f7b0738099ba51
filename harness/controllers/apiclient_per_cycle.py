"""Leaky: a new ApiClient on every start, kept in a module-level cache, never closed.

The bug. The controller is :mod:`harness.controllers.correct`, except that it
"shares" its ApiClient through a module-level cache keyed by the
configuration object, and so never closes it on stop. (It also reads each pod
back from the server before reconciling it, a common and harmless habit that
gives its pool a second connection beside the watch's.) The harness, like any
caller that builds a fresh configuration (reloading a kubeconfig, rotating a
token), hands it a new configuration object every cycle, so the cache misses
every time: each start adds one more client, and nothing ever closes one.

Why it hurts. An ApiClient owns a urllib3 pool of keep-alive connections. A
client that is never closed keeps its pooled connection to the API server open
(or, once the server gives up on it, half-closed in CLOSE_WAIT) for the life
of the process: one socket and one file descriptor per restart, until the
process hits its descriptor limit and every new request fails with "Too many
open files". The cache also pins each client's configuration and pool.

What leakhunt reports. ``socket-leak`` and ``fd-leak``: one more TCP
connection to the API server per cycle, held from
``apiclient_per_cycle._CLIENTS``.
"""

from __future__ import annotations

import logging

from kubernetes.client import ApiClient, ApiException

from harness.controllers.context import ControllerContext
from harness.controllers.correct import CorrectController, Running

logger = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 5.0
"""Client-side timeout of the read before each reconcile."""

_CLIENTS: dict[int, ApiClient] = {}
"""The bug: clients cached by the identity of a configuration that is new each cycle."""


class ApiClientPerCycleController(CorrectController):
    """The correct controller, except that its clients are cached and never closed."""

    def make_client(self) -> ApiClient:
        """The cached client for this configuration, made on a miss."""
        key = id(self.ctx.configuration)
        api_client = _CLIENTS.get(key)
        if api_client is None:
            api_client = super().make_client()
            _CLIENTS[key] = api_client
            logger.debug("Cached ApiClient number %d.", len(_CLIENTS))
        return api_client

    def close_client(self, api_client: ApiClient) -> None:
        """Leave the client open: it is "shared" through the cache."""

    def reconcile(self, running: Running, key: str) -> None:
        """Read the pod back from the server, then reconcile it as usual."""
        namespace, _, name = key.partition("/")
        try:
            running.api.read_namespaced_pod(
                name, namespace, _request_timeout=READ_TIMEOUT_SECONDS
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        super().reconcile(running, key)


def cached_clients() -> int:
    """The number of ApiClients the module-level cache holds."""
    return len(_CLIENTS)


def controller(ctx: ControllerContext) -> ApiClientPerCycleController:
    """The entry point: a controller that leaks an ApiClient on every cycle."""
    return ApiClientPerCycleController(ctx, name="apiclient-per-cycle")

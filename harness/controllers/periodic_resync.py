"""Leaky: a full re-list of every pod, several times a second.

The bug. Instead of watching, the controller polls: a thread lists every pod
of ``ctx.namespace`` every :data:`RESYNC_SECONDS` and reconciles each one, to
be "level-triggered" and never miss a change. It is scoped, it stops cleanly
and it leaks nothing in its own process.

Why it hurts. A LIST is the most expensive read the API server serves: it
reads every object from etcd (or the watch cache), serialises all of them, and
the client deserialises all of them again, each time. Polling several times a
second makes the cost of the controller grow with the number of objects times
the poll rate, where a watch costs only the changes; across replicas and
controllers it is the classic way to overload an API server. Informers re-list
only on start, on 410 Gone, or at a resync period of minutes.

What leakhunt reports. ``relist-storm``: the server's LIST count for pods goes
up by several per cycle with no watch open, where a correct controller lists
once per start.
"""

from __future__ import annotations

import logging
import threading

from kubernetes.client import ApiClient, CoreV1Api, V1Pod

from harness.controllers.context import ControllerContext
from harness.controllers.informer import pod_key

logger = logging.getLogger(__name__)

RESYNC_SECONDS = 0.1
"""The bug: how often every pod is listed again."""

LIST_TIMEOUT_SECONDS = 10.0
"""Client-side timeout of one LIST."""

JOIN_TIMEOUT_SECONDS = 2.0
"""How long stop() waits for the polling thread to end."""


class PeriodicResyncController:
    """A pod controller that polls with a full LIST instead of watching."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.reconciled = 0
        self.lists = 0
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._api_client: ApiClient | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open a client and start polling."""
        self._stopping.clear()
        self._synced.clear()
        self._api_client = ApiClient(self.ctx.configuration)
        self._api_client.user_agent = "leakhunt-periodic-resync"
        self._thread = threading.Thread(
            target=self._poll,
            args=(CoreV1Api(self._api_client),),
            name="leakhunt-periodic-resync",
            daemon=True,
        )
        self._thread.start()

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first LIST."""
        return self._synced.wait(timeout)

    def stop(self) -> None:
        """Stop polling, join the thread and close the client."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_SECONDS)
        if self._api_client is not None:
            self._api_client.close()
        self._api_client = self._thread = None

    def _poll(self, api: CoreV1Api) -> None:
        cache: dict[str, V1Pod] = {}
        while not self._stopping.is_set():
            try:
                pods = api.list_namespaced_pod(
                    self.ctx.namespace,
                    label_selector=self.ctx.label_selector,
                    _request_timeout=LIST_TIMEOUT_SECONDS,
                )
            except Exception:
                logger.exception("Listing pods in %s failed.", self.ctx.namespace)
            else:
                self.lists += 1
                cache = {pod_key(pod): pod for pod in pods.items}
                self._synced.set()
                # Reconcile: every pod, on every poll.
                self.reconciled += len(cache)
            self._stopping.wait(RESYNC_SECONDS)


def controller(ctx: ControllerContext) -> PeriodicResyncController:
    """The entry point: a controller that re-lists every pod several times a second."""
    return PeriodicResyncController(ctx)

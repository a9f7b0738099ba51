"""Leaky: a new informer started inside every reconcile, and never stopped.

The bug. The controller is :mod:`harness.controllers.correct`, except that it
reconciles per namespace rather than per pod, and each reconcile wants "a
fresh view" of the namespace's pods: it builds a new informer, starts it,
waits for it to sync, counts the pods and returns. Nobody stops the informer;
it goes out of scope, but its thread still references it, so it keeps
watching for the life of the process.

Why it hurts. Every reconcile adds a thread, an open connection and a watch on
the API server, plus a full cache of the namespace's pods. A controller that
reconciles a few times a minute leaks hundreds of watches a day; the server
fans every pod change out to each of them, and each zombie deserialises it.

What leakhunt reports. ``thread-leak`` (threads named
``leakhunt-reconcile-informer-<n>``), ``watch-leak`` (the server keeps one
more watch per reconcile, each with this controller's user agent) and, as the
zombie caches fill, ``object-growth``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

from kubernetes.client import V1Pod

from harness.controllers.context import ControllerContext
from harness.controllers.correct import CorrectController, Running
from harness.controllers.informer import PodInformer
from harness.controllers.workqueue import WorkQueue

logger = logging.getLogger(__name__)

SYNC_TIMEOUT_SECONDS = 10.0
"""How long a reconcile waits for its fresh informer to sync."""


class InformerPerReconcileController(CorrectController):
    """The correct controller, except that every reconcile starts an informer."""

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, name="per-reconcile")
        self.pods_seen = 0
        self._numbers = itertools.count()
        self._reconciled_once = threading.Event()

    def start(self) -> None:
        """Start as the correct controller does; the first reconcile is to come."""
        self._reconciled_once.clear()
        super().start()

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait for the cache, then for the first reconcile of the namespace.

        A controller that reconciles whole namespaces has a view only once it
        has reconciled one; it is synced then, and not when its cache is (so
        it needs a pod in its namespace to sync).
        """
        deadline = time.monotonic() + timeout
        if not super().wait_for_sync(timeout):
            return False
        return self._reconciled_once.wait(max(0.0, deadline - time.monotonic()))

    def on_event(self, queue: WorkQueue, kind: str, key: str, pod: V1Pod) -> None:
        """Queue the pod's namespace: the unit this controller reconciles."""
        queue.add(key.partition("/")[0])

    def reconcile(self, running: Running, key: str) -> None:
        """Count the namespace's pods through a brand-new informer, left running."""
        fresh = PodInformer(
            running.api,
            key,
            self.ctx.label_selector,
            name=f"leakhunt-reconcile-informer-{next(self._numbers)}",
        )
        fresh.start()
        if fresh.wait_for_sync(SYNC_TIMEOUT_SECONDS):
            self.pods_seen = len(fresh)
        self.reconciled += 1
        self._reconciled_once.set()
        logger.debug("Namespace %s holds %d pods.", key, self.pods_seen)


def controller(ctx: ControllerContext) -> InformerPerReconcileController:
    """The entry point: a controller that starts an informer on every reconcile."""
    return InformerPerReconcileController(ctx)

"""Leaky: a module-level registry keeps every informer, and so every cache.

The bug. The controller builds a ``kubernetes.informer.SharedInformer`` on
each start and records it in a module-level registry, so that "other parts of
the operator can look informers up by namespace". stop() stops the informer
and closes the client, but never takes the informer out of the registry. A
stopped informer still holds its cache: every pod it ever listed, as models.

Why it hurts. Every restart of the controller inside one process (a lost and
regained leader lease, a configuration reload, a test suite) adds a full copy
of the watched objects that nothing will ever read again. Memory grows by the
size of the cache on each restart until the container is OOM-killed, and the
growth looks like "the cluster got bigger" until someone counts the copies.

What leakhunt reports. ``object-growth`` (about one set of pod models per
cycle: ``V1Pod``, ``V1ObjectMeta``, ``V1PodSpec``, ...) and ``memory-growth``,
with the reference chain ending in ``informer_registry._INFORMERS``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.informer import ADDED, DELETED, MODIFIED, SharedInformer

from harness.controllers.context import ControllerContext
from harness.controllers.informer import pod_key
from harness.controllers.workqueue import WorkQueue

logger = logging.getLogger(__name__)

_INFORMERS: list[SharedInformer] = []
"""The bug: every informer ever started, stopped or not."""

SYNC_POLL_SECONDS = 0.02
"""How often wait_for_sync() looks at the informer."""

WORKER_POLL_SECONDS = 1.0
"""How long the worker waits on an empty queue before looking again."""

JOIN_TIMEOUT_SECONDS = 2.0
"""How long stop() waits for the worker to end."""


class InformerRegistryController:
    """A pod controller on the official SharedInformer, registered and never let go."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.reconciled = 0
        self._api_client: ApiClient | None = None
        self._informer: SharedInformer | None = None
        self._queue: WorkQueue | None = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Build an informer, register it, and start it and the worker."""
        self._api_client = ApiClient(self.ctx.configuration)
        self._api_client.user_agent = "leakhunt-informer-registry"
        api = CoreV1Api(self._api_client)
        queue = self._queue = WorkQueue()

        informer = SharedInformer(
            list_func=api.list_namespaced_pod,
            namespace=self.ctx.namespace,
            label_selector=self.ctx.label_selector,
        )
        for kind in (ADDED, MODIFIED, DELETED):
            informer.add_event_handler(kind, lambda pod: queue.add(pod_key(pod)))
        self._informer = informer
        _INFORMERS.append(informer)

        self._worker = threading.Thread(
            target=self._work,
            args=(informer, queue),
            name="leakhunt-registry-worker",
            daemon=True,
        )
        informer.start()
        self._worker.start()
        logger.info("Informer number %d registered and started.", len(_INFORMERS))

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first LIST and the watch after it."""
        informer = self._informer
        if informer is None:
            return False

        waited = threading.Event()
        for _ in range(max(1, int(timeout / SYNC_POLL_SECONDS))):
            if _watching(informer):
                return True
            waited.wait(SYNC_POLL_SECONDS)
        return _watching(informer)

    def stop(self) -> None:
        """Stop the worker and the informer, close the client; keep the registry."""
        if self._queue is not None:
            self._queue.shut_down()
        if self._informer is not None:
            self._informer.stop()
        if self._worker is not None:
            self._worker.join(JOIN_TIMEOUT_SECONDS)
        if self._api_client is not None:
            self._api_client.close()
        self._api_client = self._informer = self._queue = self._worker = None

    def _work(self, informer: Any, queue: WorkQueue) -> None:
        while True:
            key = queue.get(WORKER_POLL_SECONDS)
            if key is None:
                if queue.shutting_down:
                    return
                continue

            # Reconcile: read the pod from the cache; a deleted pod is simply gone.
            informer.cache.get_by_key(key)
            self.reconciled += 1
            queue.done(key)


def _watching(informer: SharedInformer) -> bool:
    # NB: SharedInformer offers no has_synced(); its resourceVersion is set
    # once the first LIST is in its cache. Its stop() is lost if it comes
    # before the watch that follows has a response in flight (see
    # docs/controllers.md), so this controller, which is about its registry,
    # waits for that response too.
    watch = informer._watch
    return (
        informer._resource_version is not None
        and watch is not None
        and getattr(watch, "_resp", None) is not None
    )


def registered() -> int:
    """The number of informers the module-level registry holds."""
    return len(_INFORMERS)


def controller(ctx: ControllerContext) -> InformerRegistryController:
    """The entry point: a controller whose informers, and caches, are never freed."""
    return InformerRegistryController(ctx)

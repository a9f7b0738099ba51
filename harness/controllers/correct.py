"""The correct reference controller: what a clean soak looks like.

It watches the pods of ``ctx.namespace`` that match ``ctx.label_selector`` with
a :class:`~harness.controllers.informer.PodInformer` (list+watch into a local
cache), and its event handlers only put the pod's key on a
:class:`~harness.controllers.workqueue.WorkQueue`. One worker thread takes keys
off the queue and reconciles: it reads the pod from the cache and, when the pod
does not carry the controller's annotation yet, patches it on, at most
:data:`WRITE_RATE` writes a second. A failed write is retried with a per-key
exponential backoff under an overall token bucket, and given up after
:data:`MAX_RETRIES`.

On :meth:`CorrectController.stop` the queue is shut down (waking the worker),
the informer cuts its watch and joins its thread, the worker is joined and the
ApiClient closed: no thread, socket, watch or cache outlives the stop, and the
stop takes a few milliseconds even when the watch has been quiet.

Soak it with ``leakhunt soak harness.controllers.correct:controller``.
"""

from __future__ import annotations

import logging
import threading

from kubernetes.client import ApiClient, ApiException, CoreV1Api, V1Pod

from harness.controllers.context import ControllerContext
from harness.controllers.informer import PodInformer
from harness.controllers.workqueue import TokenBucket, WorkQueue

logger = logging.getLogger(__name__)

RECONCILED_ANNOTATION = "leakhunt.dev/reconciled-by"
"""The annotation the controller writes on every pod it has reconciled."""

WRITE_RATE = 50.0
"""Patches a second the controller allows itself across all pods."""

WRITE_BURST = 50
"""Patches allowed at once before :data:`WRITE_RATE` applies."""

MAX_RETRIES = 5
"""Failed reconciles of one key before it is given up until its next event."""

WRITE_TIMEOUT_SECONDS = 5.0
"""Client-side timeout of one patch."""

JOIN_TIMEOUT_SECONDS = 2.0
"""How long stop() waits for each thread to end."""

WORKER_POLL_SECONDS = 1.0
"""How long the worker waits on an empty queue before looking again."""


class CorrectController:
    """A namespaced pod controller with a cache, a work queue and a clean stop."""

    def __init__(self, ctx: ControllerContext, *, name: str = "correct") -> None:
        self._configuration = ctx.configuration
        self._namespace = ctx.namespace
        self._label_selector = ctx.label_selector
        self._name = name
        self._reconciled = 0
        self._writes = 0
        self._stopping = threading.Event()
        self._api_client: ApiClient | None = None
        self._informer: PodInformer | None = None
        self._queue: WorkQueue | None = None
        self._worker: threading.Thread | None = None

    @property
    def informer(self) -> PodInformer | None:
        """The running informer, whose cache the reconciler reads; None when stopped."""
        return self._informer

    @property
    def reconciled(self) -> int:
        """The number of reconciles that completed, over every start."""
        return self._reconciled

    @property
    def writes(self) -> int:
        """The number of patches sent, over every start."""
        return self._writes

    def start(self) -> None:
        """Open a client, start the informer and the worker."""
        if self._informer is not None:
            return

        self._stopping.clear()
        self._api_client = ApiClient(self._configuration)
        self._api_client.user_agent = f"leakhunt-{self._name}"
        api = CoreV1Api(self._api_client)
        queue = WorkQueue()
        writes = TokenBucket(rate=WRITE_RATE, burst=WRITE_BURST)

        informer = PodInformer(
            api,
            self._namespace,
            self._label_selector,
            name=f"leakhunt-{self._name}-informer",
        )
        informer.add_handler(lambda _kind, key, _pod: queue.add(key))
        self._informer, self._queue = informer, queue

        self._worker = threading.Thread(
            target=self._work,
            args=(api, informer, queue, writes),
            name=f"leakhunt-{self._name}-worker",
            daemon=True,
        )
        informer.start()
        self._worker.start()
        logger.info(
            "Controller %s started on namespace %s.", self._name, self._namespace
        )

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the cache to hold the first LIST."""
        informer = self._informer
        return informer is not None and informer.wait_for_sync(timeout)

    def stop(self) -> None:
        """Stop the worker and the informer, and close the client."""
        self._stopping.set()

        # First, wake the worker and cut the watch; then wait for both threads.
        if self._queue is not None:
            self._queue.shut_down()
        if self._informer is not None:
            self._informer.stop(JOIN_TIMEOUT_SECONDS)
        if self._worker is not None:
            self._worker.join(JOIN_TIMEOUT_SECONDS)
            if self._worker.is_alive():
                logger.warning("Worker of %s did not end after stop.", self._name)

        # Finally, close the pooled connections and drop every reference.
        if self._api_client is not None:
            # The generated ApiClient.close() has no annotations.
            self._api_client.close()  # type: ignore[no-untyped-call]
        self._api_client = self._informer = self._queue = self._worker = None
        logger.info("Controller %s stopped.", self._name)

    def _work(
        self,
        api: CoreV1Api,
        informer: PodInformer,
        queue: WorkQueue,
        writes: TokenBucket,
    ) -> None:
        while True:
            key = queue.get(WORKER_POLL_SECONDS)
            if key is None:
                if queue.shutting_down:
                    return
                continue

            try:
                self._reconcile(api, informer, writes, key)
                queue.forget(key)
            except ApiException as exc:
                if queue.requeues(key) < MAX_RETRIES:
                    logger.info("Reconcile of pod %s failed, retrying: %s", key, exc)
                    queue.add_rate_limited(key)
                else:
                    logger.warning(
                        "Giving up on pod %s after %d tries.", key, MAX_RETRIES
                    )
                    queue.forget(key)
            finally:
                queue.done(key)

    def _reconcile(
        self, api: CoreV1Api, informer: PodInformer, writes: TokenBucket, key: str
    ) -> None:
        pod = informer.get(key)
        if pod is None:
            # Deleted since it was queued: nothing of ours to clean up.
            self._reconciled += 1
            return

        if _annotation(pod) == self._name:
            self._reconciled += 1
            return

        # Writes wait for their token, but never past a stop.
        delay = writes.reserve()
        if delay > 0 and self._stopping.wait(delay):
            return

        namespace, _, name = key.partition("/")
        api.patch_namespaced_pod(
            name,
            namespace,
            {"metadata": {"annotations": {RECONCILED_ANNOTATION: self._name}}},
            _content_type="application/merge-patch+json",
            _request_timeout=WRITE_TIMEOUT_SECONDS,
        )
        self._writes += 1
        self._reconciled += 1


def _annotation(pod: V1Pod) -> str | None:
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    return annotations.get(RECONCILED_ANNOTATION)


def controller(ctx: ControllerContext) -> CorrectController:
    """The entry point: a correct controller for ``ctx``, not yet started."""
    return CorrectController(ctx)

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
from dataclasses import dataclass

from kubernetes.client import ApiClient, ApiException, CoreV1Api, V1Pod

from harness.controllers.context import ControllerContext
from harness.controllers.informer import PodInformer
from harness.controllers.workqueue import TokenBucket, WorkQueue

logger = logging.getLogger(__name__)

RECONCILED_ANNOTATION = "leakhunt.dev/reconciled-by"
"""The annotation the controller writes on every pod it has reconciled."""

WRITE_RATE = 10.0
"""Patches a second the controller allows itself across all pods."""

WRITE_BURST = 20
"""Patches allowed at once before :data:`WRITE_RATE` applies."""

MAX_RETRIES = 5
"""Failed reconciles of one key before it is given up until its next event."""

WRITE_TIMEOUT_SECONDS = 5.0
"""Client-side timeout of one patch."""

JOIN_TIMEOUT_SECONDS = 2.0
"""How long stop() waits for each thread to end."""

WORKER_POLL_SECONDS = 1.0
"""How long the worker waits on an empty queue before looking again."""


@dataclass
class Running:
    """What one start of a controller holds, all of it let go by stop()."""

    api_client: ApiClient
    api: CoreV1Api
    informer: PodInformer
    queue: WorkQueue
    writes: TokenBucket
    worker: threading.Thread


class CorrectController:
    """A namespaced pod controller with a cache, a work queue and a clean stop.

    The leaky reference controllers that differ from it in one step subclass
    it and override that step, so each of them reads as the one mistake.
    """

    def __init__(self, ctx: ControllerContext, *, name: str = "correct") -> None:
        self.ctx = ctx
        self.name = name
        self.reconciled = 0
        self.writes = 0
        self.running: Running | None = None
        self._stopping = threading.Event()

    @property
    def informer(self) -> PodInformer | None:
        """The running informer, whose cache the reconciler reads; None when stopped."""
        return self.running.informer if self.running is not None else None

    def start(self) -> None:
        """Open a client, start the informer and the worker."""
        if self.running is not None:
            return

        self._stopping.clear()
        api_client = self.make_client()
        api = CoreV1Api(api_client)
        queue = WorkQueue()
        informer = self.make_informer(api)
        informer.add_handler(
            lambda kind, key, pod: self.on_event(queue, kind, key, pod)
        )
        worker = threading.Thread(
            target=self.work, name=f"leakhunt-{self.name}-worker", daemon=True
        )
        self.running = Running(
            api_client=api_client,
            api=api,
            informer=informer,
            queue=queue,
            writes=TokenBucket(rate=WRITE_RATE, burst=WRITE_BURST),
            worker=worker,
        )

        informer.start()
        worker.start()
        logger.info(
            "Controller %s started on namespace %s.", self.name, self.ctx.namespace
        )

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the cache to hold the first LIST."""
        running = self.running
        return running is not None and running.informer.wait_for_sync(timeout)

    def stop(self) -> None:
        """Stop the worker and the informer, and close the client."""
        running, self.running = self.running, None
        if running is None:
            return
        self._stopping.set()

        # First, wake the worker and cut the watch; then wait for both threads.
        running.queue.shut_down()
        running.informer.stop(JOIN_TIMEOUT_SECONDS)
        running.worker.join(JOIN_TIMEOUT_SECONDS)
        if running.worker.is_alive():
            logger.warning("Worker of %s did not end after stop.", self.name)

        # Finally, close the pooled connections.
        self.close_client(running.api_client)
        logger.info("Controller %s stopped.", self.name)

    def make_client(self) -> ApiClient:
        """A new ApiClient for the context's server."""
        api_client = ApiClient(self.ctx.configuration)
        api_client.user_agent = f"leakhunt-{self.name}"
        return api_client

    def close_client(self, api_client: ApiClient) -> None:
        """Close ``api_client`` and the connections in its pool."""
        api_client.close()

    def make_informer(self, api: CoreV1Api) -> PodInformer:
        """The informer over the context's namespace and label selector."""
        return PodInformer(
            api,
            self.ctx.namespace,
            self.ctx.label_selector,
            name=f"leakhunt-{self.name}-informer",
        )

    def on_event(self, queue: WorkQueue, kind: str, key: str, pod: V1Pod) -> None:
        """The event handler: put the key on the queue, nothing more."""
        queue.add(key)

    def work(self) -> None:
        """The worker loop: reconcile keys until the queue is shut down."""
        running = self.running
        if running is None:
            return
        queue = running.queue

        while True:
            key = queue.get(WORKER_POLL_SECONDS)
            if key is None:
                if queue.shutting_down:
                    return
                continue

            try:
                self.reconcile(running, key)
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

    def reconcile(self, running: Running, key: str) -> None:
        """Annotate the cached pod under ``key`` once, within the write budget."""
        pod = running.informer.get(key)
        if pod is None:
            # Deleted since it was queued: nothing of ours to clean up.
            self.reconciled += 1
            return

        if _annotation(pod) == self.name:
            self.reconciled += 1
            return

        # Writes wait for their token, but never past a stop.
        delay = running.writes.reserve()
        if delay > 0 and self._stopping.wait(delay):
            return

        self.patch(running.api, key, RECONCILED_ANNOTATION, self.name)
        self.reconciled += 1

    def patch(self, api: CoreV1Api, key: str, annotation: str, value: str) -> None:
        """Set ``annotation`` on the pod under ``key`` to ``value``."""
        namespace, _, name = key.partition("/")
        api.patch_namespaced_pod(
            name,
            namespace,
            {"metadata": {"annotations": {annotation: value}}},
            _content_type="application/merge-patch+json",
            _request_timeout=WRITE_TIMEOUT_SECONDS,
        )
        self.writes += 1


def _annotation(pod: V1Pod) -> str | None:
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    return annotations.get(RECONCILED_ANNOTATION)


def controller(ctx: ControllerContext) -> CorrectController:
    """The entry point: a correct controller for ``ctx``, not yet started."""
    return CorrectController(ctx)

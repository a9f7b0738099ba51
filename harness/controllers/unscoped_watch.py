"""Leaky: watches every pod in the cluster and filters on the client side.

The bug. The controller is :mod:`harness.controllers.correct`, except that its
informer lists and watches ``/api/v1/pods`` (every namespace, no label
selector) and the handler throws away what is not in ``ctx.namespace`` or
does not match ``ctx.label_selector``. It works, and on a small test cluster
nobody notices.

Why it hurts. The API server sends, and the controller deserialises and
caches, every pod of the cluster, to use a few of them: memory and CPU in the
controller grow with the cluster rather than with its own objects, and the
server pays for a cluster-wide watch per replica. It also needs cluster-wide
RBAC to list pods, which a namespaced controller should never ask for.

What leakhunt reports. ``unscoped-watch``: the server's open-watch registry
shows a watch on ``/api/v1/pods`` with neither a namespace nor a label or
field selector, and the controller's cache holds pods from namespaces it was
not given.
"""

from __future__ import annotations

import logging

from kubernetes.client import CoreV1Api, V1Pod

from harness.controllers.context import ControllerContext
from harness.controllers.correct import CorrectController
from harness.controllers.informer import PodInformer, matches
from harness.controllers.workqueue import WorkQueue

logger = logging.getLogger(__name__)


class UnscopedWatchController(CorrectController):
    """The correct controller, except that it watches the whole cluster."""

    def make_informer(self, api: CoreV1Api) -> PodInformer:
        """An informer over every pod of every namespace."""
        return PodInformer(api, None, None, name=f"leakhunt-{self.name}-informer")

    def on_event(self, queue: WorkQueue, kind: str, key: str, pod: V1Pod) -> None:
        """Queue the key only for pods this controller is meant to handle."""
        meta = pod.metadata
        if meta is None or meta.namespace != self.ctx.namespace:
            return
        if not matches(meta.labels, self.ctx.label_selector):
            return
        queue.add(key)


def controller(ctx: ControllerContext) -> UnscopedWatchController:
    """The entry point: a controller that watches every pod in the cluster."""
    return UnscopedWatchController(ctx, name="unscoped")

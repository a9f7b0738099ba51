"""Leaky: the event handler does slow, blocking work on the watch thread.

The bug. The controller is :mod:`harness.controllers.correct` with a handler
that, before queueing the key, does part of the reconcile itself: it reads
the pod back from the API server with a synchronous GET ("to be sure it is
fresh") and waits a little for a pretend side effect. The handler runs on the
informer's thread, so while it blocks nothing reads the watch.

Why it hurts. Handlers are called once per event, in order, on the one thread
that reads the watch. A handler that costs a round trip turns every event
into a request to the API server, and the watch falls behind as soon as
events arrive faster than the handler returns: the server buffers them, the
controller acts on stale state, and on a busy cluster the server finally
drops the slow watcher, which forces a full re-list. The first LIST of N pods
costs N round trips before the controller has seen anything new.

What leakhunt reports. ``blocking-handler``: while events flow (the ``churn``
scenario), the watch thread is found inside the handler, here in
``time.sleep``, instead of waiting for the next event; and a GET per watch
event shows in the server's request counters. On a quiet watch a blocking
handler costs nothing, and the ``lifecycle`` scenario rightly sees nothing.
"""

from __future__ import annotations

import logging
import time

from kubernetes.client import V1Pod

from harness.controllers.context import ControllerContext
from harness.controllers.correct import CorrectController
from harness.controllers.informer import DELETED
from harness.controllers.workqueue import WorkQueue

logger = logging.getLogger(__name__)

HANDLER_WORK_SECONDS = 0.02
"""How long the handler's pretend side effect blocks, per event."""

READ_TIMEOUT_SECONDS = 5.0
"""Client-side timeout of the handler's GET."""


class BlockingHandlerController(CorrectController):
    """The correct controller, except that its handler blocks per event."""

    def on_event(self, queue: WorkQueue, kind: str, key: str, pod: V1Pod) -> None:
        """Read the pod back from the server and wait, then queue the key."""
        running = self.running
        if running is not None and kind != DELETED:
            namespace, _, name = key.partition("/")
            running.api.read_namespaced_pod(
                name, namespace, _request_timeout=READ_TIMEOUT_SECONDS
            )
            time.sleep(HANDLER_WORK_SECONDS)
        queue.add(key)


def controller(ctx: ControllerContext) -> BlockingHandlerController:
    """The entry point: a controller whose handler blocks the watch thread."""
    return BlockingHandlerController(ctx, name="blocking")

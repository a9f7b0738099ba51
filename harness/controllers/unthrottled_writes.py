"""Leaky: patches every pod on every event, with no rate limit and no check.

The bug. The controller is :mod:`harness.controllers.correct`, except that its
reconcile writes unconditionally: every event stamps the pod with the cycle
in which it was seen, whether the stamp is already there or not, as fast as
the worker can send requests. Each stamp is itself a change the watch reports
back, which reconciles the pod again and writes again.

Why it hurts. Every write is a request the API server must admit, validate,
store in etcd and fan out to every watcher of pods. A controller that writes
once per event, unthrottled, turns the first LIST of N pods into N writes at
once, answers its own writes with more writes, and can starve the API
server's priority-and-fairness budget for everyone else. client-go's
controllers write only when the desired state differs from the cached one,
and within a rate limit.

What leakhunt reports. ``unthrottled-writes``: the server's PATCH count per
cycle is at least the number of pods, and the write rate is not held under
any limit.
"""

from __future__ import annotations

import logging

from harness.controllers.context import ControllerContext
from harness.controllers.correct import CorrectController, Running

logger = logging.getLogger(__name__)

SEEN_ANNOTATION = "leakhunt.dev/last-seen-cycle"
"""The annotation stamped on every pod on every event."""


class UnthrottledWritesController(CorrectController):
    """The correct controller, except that reconcile always writes, unthrottled."""

    def reconcile(self, running: Running, key: str) -> None:
        """Stamp the pod under ``key`` with the current cycle, every time."""
        if running.informer.get(key) is None:
            return

        self.patch(running.api, key, SEEN_ANNOTATION, str(self.ctx.cycle))
        self.reconciled += 1


def controller(ctx: ControllerContext) -> UnthrottledWritesController:
    """The entry point: a controller that writes on every event, unthrottled."""
    return UnthrottledWritesController(ctx, name="unthrottled")

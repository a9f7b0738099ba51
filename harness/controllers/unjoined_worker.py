"""Leaky: a worker thread started on every start, never told to stop or joined.

The bug. The controller is :mod:`harness.controllers.correct` with a shorter
:meth:`~UnjoinedWorkerController.stop`: it stops the informer and closes the
client, but leaves the worker alone, on the belief that ``daemon=True`` takes
care of it. The work queue is never shut down, so the worker keeps waking up
to poll an empty queue for the life of the process, and holds on to the queue,
the stopped informer and the client.

Why it hurts. Every restart of the controller inside one process (a lost and
regained leader lease, a configuration reload, a test suite) adds a thread
that never goes away. Each one costs a stack and wakes the interpreter once a
second; a few thousand of them and the process slows to a crawl or hits its
thread limit. ``daemon=True`` only means the thread will not keep the process
alive at exit.

What leakhunt reports. ``thread-leak``: one more ``leakhunt-unjoined-worker``
thread per cycle, with its stack in ``WorkQueue.get``.
"""

from __future__ import annotations

import logging

from harness.controllers.context import ControllerContext
from harness.controllers.correct import CorrectController

logger = logging.getLogger(__name__)


class UnjoinedWorkerController(CorrectController):
    """The correct controller, except that stop() forgets the worker."""

    def stop(self) -> None:
        """Stop the informer and close the client; the worker is left running."""
        running, self.running = self.running, None
        if running is None:
            return

        running.informer.stop()
        self.close_client(running.api_client)
        logger.info("Controller %s stopped.", self.name)


def controller(ctx: ControllerContext) -> UnjoinedWorkerController:
    """The entry point: a controller that leaks its worker thread on every stop."""
    return UnjoinedWorkerController(ctx, name="unjoined")

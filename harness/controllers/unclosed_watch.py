"""Leaky: a watch that is never closed on stop.

The bug. The controller lists its pods, then follows them with the official
``kubernetes.watch.Watch``, and checks a "stopped" flag between events. stop()
sets the flag, closes the ApiClient and returns at once, without calling
``Watch.stop()`` or joining the thread: the author expects the loop to notice
the flag and end. But the loop only looks at the flag when an event arrives,
and on a quiet namespace none does; the watch has no ``timeout_seconds``,
and ``ApiClient.close()`` only closes idle pooled connections, not the one the
watch is reading. So the thread stays blocked in ``recv()``, the connection
stays open, and the API server keeps the watch registered.

Why it hurts. Each stop leaves one thread, one socket and one server-side
watch behind, each with its own copy of the cache. The API server spends a
watcher slot and memory on every one, and sends each of them every change to
the pods, which the zombie threads deserialise for nothing.

What leakhunt reports. ``watch-leak`` (the server still has one more watch on
``/api/v1/namespaces/<ns>/pods?watch=true`` per cycle, with this controller's
user agent), ``socket-leak`` and ``thread-leak`` (threads named
``leakhunt-unclosed-watch``, blocked in a socket read under ``Watch.stream``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api, V1Pod
from kubernetes.watch import Watch

from harness.controllers.context import ControllerContext
from harness.controllers.informer import pod_key

logger = logging.getLogger(__name__)


class UnclosedWatchController:
    """A list-then-watch pod controller whose stop() never closes the watch."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.reconciled = 0
        self._stopped = False
        self._synced = threading.Event()
        self._api_client: ApiClient | None = None

    def start(self) -> None:
        """Open a client and start the list+watch thread."""
        self._stopped = False
        self._synced.clear()
        self._api_client = ApiClient(self.ctx.configuration)
        self._api_client.user_agent = "leakhunt-unclosed-watch"
        thread = threading.Thread(
            target=self._run,
            args=(CoreV1Api(self._api_client),),
            name="leakhunt-unclosed-watch",
            daemon=True,
        )
        thread.start()

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first LIST."""
        return self._synced.wait(timeout)

    def stop(self) -> None:
        """Raise the flag and close the client; the watch is left to notice."""
        self._stopped = True
        if self._api_client is not None:
            self._api_client.close()
        self._api_client = None

    def _run(self, api: CoreV1Api) -> None:
        selector: dict[str, Any] = {}
        if self.ctx.label_selector is not None:
            selector["label_selector"] = self.ctx.label_selector

        pods = api.list_namespaced_pod(self.ctx.namespace, **selector)
        cache: dict[str, V1Pod] = {pod_key(pod): pod for pod in pods.items}
        self._synced.set()

        watch = Watch()
        events = watch.stream(
            api.list_namespaced_pod,
            self.ctx.namespace,
            resource_version=pods.metadata.resource_version if pods.metadata else None,
            **selector,
        )
        try:
            for event in events:
                if self._stopped:
                    # The flag is only seen here, after the next event.
                    break
                pod = event["object"]
                if event["type"] == "DELETED":
                    cache.pop(pod_key(pod), None)
                else:
                    cache[pod_key(pod)] = pod
                self.reconciled += 1
        except Exception as exc:
            logger.info("Watch of namespace %s failed: %s", self.ctx.namespace, exc)
            return
        logger.info("Watch of namespace %s ended.", self.ctx.namespace)


def controller(ctx: ControllerContext) -> UnclosedWatchController:
    """The entry point: a controller that leaves its watch open on every stop."""
    return UnclosedWatchController(ctx)

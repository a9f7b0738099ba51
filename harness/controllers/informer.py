"""A pod informer that lists, watches, keeps a cache and stops at once.

This is the list+watch loop the reference controllers are built on, written
out instead of taken from ``kubernetes.informer.SharedInformer`` because the
official informer cannot be stopped promptly and reliably (see
docs/controllers.md). What it does differently:

- every request in flight, the LIST pages as well as the WATCH, is an urllib3
  response the informer keeps, and :meth:`PodInformer.stop` shuts its socket
  down, so a thread blocked in a read on a quiet watch wakes up at once;
- every watch carries a server-side ``timeoutSeconds`` and a client-side read
  timeout a little longer, so a watch the server forgot cannot hang a thread;
- it resumes from the last resourceVersion it saw (bookmarks included), and
  re-lists only when the server answers 410 Gone;
- the stop flag is checked between every two requests and every two events,
  so a stop during the first LIST does not go on to open a watch.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import urllib3
from kubernetes.client import ApiException, CoreV1Api, V1Pod

logger = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 60
"""How long the server keeps one watch open before the informer re-opens it."""

READ_SLACK_SECONDS = 5.0
"""How much longer than the server's watch timeout the client waits for a byte."""

CONNECT_TIMEOUT_SECONDS = 5.0
"""How long to wait for a connection to the API server."""

PAGE_SIZE = 500
"""Pods asked for per LIST page."""

ERROR_BACKOFF_SECONDS = 1.0
"""Pause after a failed LIST or WATCH before trying again."""

SHORT_WATCH_SECONDS = 1.0
"""A watch that ends sooner than this is followed by a pause before the next."""

JOIN_TIMEOUT_SECONDS = 2.0
"""How long :meth:`PodInformer.stop` waits for the watch thread to end."""

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

Handler = Callable[[str, str, V1Pod], None]
"""An event handler: called with the event type, the pod's key and the pod."""


class _Gone(Exception):
    """The server no longer has the resourceVersion the watch asked for."""


def pod_key(pod: V1Pod) -> str:
    """The cache key of a pod: ``namespace/name``."""
    meta = pod.metadata
    if meta is None:
        return ""
    return f"{meta.namespace or ''}/{meta.name or ''}"


def matches(labels: dict[str, str] | None, selector: str | None) -> bool:
    """Whether ``labels`` satisfy the equality terms (``a=b,c!=d``) of ``selector``.

    This is the client-side filtering a controller does when it did not ask
    the server to filter; set-based terms (``in``, ``notin``) are not handled.
    """
    labels = labels or {}
    for raw_term in (selector or "").split(","):
        term = raw_term.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
            continue
        key, _, value = (part.strip() for part in term.partition("="))
        if labels.get(key) != value.lstrip("="):
            return False
    return True


class PodInformer:
    """A list+watch loop over pods that keeps a local cache and stops at once.

    ``namespace=None`` watches every namespace. Handlers run on the watch
    thread and should only enqueue.
    """

    def __init__(
        self,
        api: CoreV1Api,
        namespace: str | None,
        label_selector: str | None = None,
        *,
        name: str = "pod-informer",
        watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._label_selector = label_selector
        self._name = name
        self._watch_timeout = watch_timeout_seconds
        self._handlers: list[Handler] = []
        self._cache: dict[str, V1Pod] = {}
        self._cache_lock = threading.Lock()
        self._resource_version: str | None = None
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._response_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` for every change the informer sees."""
        self._handlers.append(handler)

    def get(self, key: str) -> V1Pod | None:
        """The cached pod under ``key``, or None."""
        with self._cache_lock:
            return self._cache.get(key)

    def list_keys(self) -> list[str]:
        """A snapshot of the keys in the cache."""
        with self._cache_lock:
            return list(self._cache)

    def __len__(self) -> int:
        """The number of cached pods."""
        with self._cache_lock:
            return len(self._cache)

    @property
    def resource_version(self) -> str | None:
        """The last resourceVersion seen, from which a new watch resumes."""
        return self._resource_version

    def has_synced(self) -> bool:
        """Whether the first LIST has been loaded into the cache."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first LIST; return whether it came."""
        return self._synced.wait(timeout)

    def start(self) -> None:
        """Start the list+watch thread; a stopped informer may be started again."""
        if self._thread is not None:
            return

        self._stopping.clear()
        self._synced.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = JOIN_TIMEOUT_SECONDS) -> None:
        """Stop the thread, close its connection and drop the cache."""
        self._stopping.set()

        # NB: a watch on a quiet namespace has its thread blocked in recv();
        # a flag alone would only be seen after the next event. Shutting the
        # socket down makes that recv() return at once.
        with self._response_lock:
            if self._response is not None:
                try:
                    self._response.shutdown()
                except (ValueError, RuntimeError, OSError) as exc:
                    logger.debug("Shutting down %s's response: %s", self._name, exc)

        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning(
                    "Informer thread %s did not end within %.1f s of stop.",
                    self._name,
                    timeout,
                )

        with self._cache_lock:
            self._cache.clear()
        self._resource_version = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._resource_version is None:
                    self._list()
                if not self._stopping.is_set():
                    started = time.monotonic()
                    self._watch()
                    if time.monotonic() - started < SHORT_WATCH_SECONDS:
                        # A server that ends every watch at once must not
                        # turn this loop into a storm of requests.
                        self._stopping.wait(ERROR_BACKOFF_SECONDS)
            except _Gone:
                # NB: 410 means the server compacted the history past our
                # resourceVersion; only a fresh LIST can tell what changed.
                logger.info("Watch of %s expired (410 Gone); re-listing.", self._what)
                self._resource_version = None
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                if self._stopping.is_set():
                    break
                if isinstance(exc, ApiException) and exc.status == 410:
                    logger.info("%s answered 410 Gone; re-listing.", self._what)
                    self._resource_version = None
                    continue
                logger.warning(
                    "List or watch of %s failed, retrying in %.1f s: %s",
                    self._what,
                    ERROR_BACKOFF_SECONDS,
                    exc,
                )
                self._stopping.wait(ERROR_BACKOFF_SECONDS)

        logger.debug("Informer thread %s has ended.", self._name)

    @property
    def _what(self) -> str:
        scope = f"namespace {self._namespace}" if self._namespace else "all namespaces"
        return f"pods in {scope}"

    def _request(self, **params: Any) -> urllib3.BaseHTTPResponse:
        """Send a LIST or WATCH and keep its response so stop() can cut it."""
        timeouts = (CONNECT_TIMEOUT_SECONDS, self._watch_timeout + READ_SLACK_SECONDS)
        if self._label_selector is not None:
            params["label_selector"] = self._label_selector
        if self._namespace is None:
            raw = self._api.list_pod_for_all_namespaces(
                _preload_content=False, _request_timeout=timeouts, **params
            )
        else:
            raw = self._api.list_namespaced_pod(
                self._namespace,
                _preload_content=False,
                _request_timeout=timeouts,
                **params,
            )
        response = cast(urllib3.BaseHTTPResponse, raw)

        with self._response_lock:
            if self._stopping.is_set():
                response.close()
                response.release_conn()
                raise OSError("the informer was stopped while a request was sent")
            self._response = response
        return response

    def _release(self, response: urllib3.BaseHTTPResponse, *, reuse: bool) -> None:
        with self._response_lock:
            self._response = None

        # A LIST page read to its end leaves a connection fit for the next
        # request; a watch cut short does not, so its connection is closed
        # before it goes back to the pool.
        if not reuse:
            response.close()
        response.release_conn()

    def _list(self) -> None:
        fresh: dict[str, V1Pod] = {}
        token: str | None = None
        resource_version = ""

        # First, read every page; the stop flag is checked between pages.
        while not self._stopping.is_set():
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                params["_continue"] = token
            response = self._request(**params)
            try:
                page = json.loads(response.data)
            finally:
                self._release(response, reuse=not self._stopping.is_set())

            for item in page.get("items") or ():
                pod = V1Pod.from_dict(item)
                if pod is not None:
                    fresh[pod_key(pod)] = pod
            meta = page.get("metadata") or {}
            resource_version = meta.get("resourceVersion") or resource_version
            token = meta.get("continue")
            if not token:
                break

        if self._stopping.is_set():
            return

        # Then, swap the cache: from here on the informer has synced.
        with self._cache_lock:
            old, self._cache = self._cache, fresh
        self._resource_version = resource_version
        logger.info(
            "Listed %d %s at resourceVersion %s.",
            len(fresh),
            self._what,
            resource_version,
        )
        self._synced.set()
        self._dispatch_list_as_watch_events(old, fresh)

    def _dispatch_list_as_watch_events(
        self, old: dict[str, V1Pod], fresh: dict[str, V1Pod]
    ) -> None:
        """Tell the handlers what a LIST changed, as the watch would have."""
        # A stop cuts this short too.
        for key, pod in old.items():
            if key not in fresh and not self._stopping.is_set():
                self._fire(DELETED, key, pod)
        for key, pod in fresh.items():
            if self._stopping.is_set():
                return
            self._fire(MODIFIED if key in old else ADDED, key, pod)

    def _watch(self) -> None:
        response = self._request(
            watch=True,
            resource_version=self._resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout,
        )
        try:
            for line in _lines(response):
                if self._stopping.is_set():
                    return
                self._apply(json.loads(line))
        finally:
            self._release(response, reuse=False)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        raw = event.get("object") or {}
        meta = raw.get("metadata") or {}

        if kind == "ERROR":
            if raw.get("code") == 410:
                raise _Gone(raw.get("message", ""))
            raise ApiException(status=raw.get("code"), reason=raw.get("message"))

        if meta.get("resourceVersion"):
            self._resource_version = meta["resourceVersion"]
        if kind not in (ADDED, MODIFIED, DELETED):
            # BOOKMARK: only the resourceVersion moves on.
            return

        pod = V1Pod.from_dict(raw)
        if pod is None:
            return
        key = pod_key(pod)
        with self._cache_lock:
            if kind == DELETED:
                self._cache.pop(key, None)
            else:
                self._cache[key] = pod
        self._fire(kind, key, pod)

    def _fire(self, kind: str, key: str, pod: V1Pod) -> None:
        for handler in self._handlers:
            try:
                handler(kind, key, pod)
            except Exception:
                logger.exception("Handler for %s %s failed.", kind, key)


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Yield the newline-delimited JSON events of a chunked watch response."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line

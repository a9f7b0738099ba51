"""The correct asyncio reference controller, on kubernetes_asyncio.

The same design as :mod:`harness.controllers.correct`, on the event loop the
harness keeps across cycles: one task lists and watches the pods of
``ctx.namespace`` that match ``ctx.label_selector`` into a cache of raw
objects, handlers only put keys on a de-duplicating queue, and one worker task
reconciles: it reads the pod from the cache and patches the controller's
annotation on when it is missing, under a token bucket. A failed reconcile is
retried after a per-key exponential backoff.

It returns once ``ctx.stop`` is set: both tasks are cancelled and awaited, every
retry timer is cancelled, the watch response is closed and the ApiClient (and
with it the aiohttp session) is closed, so no task, socket or watch is left on
the shared loop.

Soak it with ``leakhunt soak harness.controllers.correct_async:controller``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client, config

from harness.controllers.context import AsyncControllerContext
from harness.controllers.workqueue import ItemBackoff, TokenBucket

logger = logging.getLogger(__name__)

NAME = "correct-async"
"""The controller's name: its user agent and the value of its annotation."""

RECONCILED_ANNOTATION = "leakhunt.dev/reconciled-by"
"""The annotation the controller writes on every pod it has reconciled."""

WRITE_RATE = 10.0
"""Patches a second the controller allows itself across all pods."""

WRITE_BURST = 20
"""Patches allowed at once before :data:`WRITE_RATE` applies."""

MAX_RETRIES = 5
"""Failed reconciles of one key before it is given up until its next event."""

WATCH_TIMEOUT_SECONDS = 60
"""How long the server keeps one watch open before it is re-opened."""

READ_SLACK_SECONDS = 5.0
"""How much longer than the server's watch timeout the client waits for a byte."""

ERROR_BACKOFF_SECONDS = 1.0
"""Pause after a failed LIST or WATCH before trying again."""

SHORT_WATCH_SECONDS = 1.0
"""A watch that ends sooner than this is followed by a pause before the next."""


class _State:
    """Everything one run of the controller holds; dropped when it returns."""

    def __init__(self, api: client.CoreV1Api, ctx: AsyncControllerContext) -> None:
        self.api = api
        self.namespace = ctx.namespace
        self.label_selector = ctx.label_selector
        self.cache: dict[str, dict[str, Any]] = {}
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        self.timers: set[asyncio.TimerHandle] = set()
        self.backoff = ItemBackoff()
        self.retries = TokenBucket()
        self.writes = TokenBucket(rate=WRITE_RATE, burst=WRITE_BURST)

    def enqueue(self, key: str) -> None:
        if key not in self.queued:
            self.queued.add(key)
            self.queue.put_nowait(key)

    def enqueue_later(self, key: str) -> None:
        delay = max(self.backoff.when(key), self.retries.reserve())
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self.timers.discard(handle)
            self.enqueue(key)

        handle = loop.call_later(delay, fire)
        self.timers.add(handle)

    def selector(self) -> dict[str, Any]:
        if self.label_selector is None:
            return {}
        return {"label_selector": self.label_selector}


async def _list(state: _State) -> None:
    response = cast(
        aiohttp.ClientResponse,
        await state.api.list_namespaced_pod(
            state.namespace, _preload_content=False, **state.selector()
        ),
    )
    try:
        if response.status != 200:
            raise client.ApiException(status=response.status, reason=response.reason)
        page = json.loads(await response.read())
    finally:
        response.close()

    state.cache = {
        f"{meta.get('namespace')}/{meta.get('name')}": item
        for item in page.get("items") or ()
        if (meta := item.get("metadata") or {})
    }
    state.resource_version = (page.get("metadata") or {}).get("resourceVersion")
    for key in state.cache:
        state.enqueue(key)
    state.synced.set()
    logger.info(
        "Listed %d pods in namespace %s at resourceVersion %s.",
        len(state.cache),
        state.namespace,
        state.resource_version,
    )


async def _watch(state: _State) -> None:
    response = cast(
        aiohttp.ClientResponse,
        await state.api.list_namespaced_pod(
            state.namespace,
            watch=True,
            resource_version=state.resource_version or "",
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_TIMEOUT_SECONDS,
            _request_timeout=(5.0, WATCH_TIMEOUT_SECONDS + READ_SLACK_SECONDS),
            _preload_content=False,
            **state.selector(),
        ),
    )

    # NB: the response is closed on every way out, cancellation included, so
    # a stop never leaves the watch's connection open on either side.
    try:
        if response.status != 200:
            raise client.ApiException(status=response.status, reason=response.reason)
        async for line in response.content:
            if not line.strip():
                continue
            event = json.loads(line)
            kind, raw = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if raw.get("code") == 410:
                    # The server compacted past our resourceVersion: re-list.
                    state.resource_version = None
                    return
                raise client.ApiException(
                    status=raw.get("code"), reason=raw.get("message")
                )

            meta = raw.get("metadata") or {}
            state.resource_version = (
                meta.get("resourceVersion") or state.resource_version
            )
            if kind not in ("ADDED", "MODIFIED", "DELETED"):
                continue
            key = f"{meta.get('namespace')}/{meta.get('name')}"
            if kind == "DELETED":
                state.cache.pop(key, None)
            else:
                state.cache[key] = raw
            state.enqueue(key)
    finally:
        response.close()


async def _list_watch(state: _State) -> None:
    while True:
        try:
            if state.resource_version is None:
                await _list(state)
            started = time.monotonic()
            await _watch(state)
            if time.monotonic() - started < SHORT_WATCH_SECONDS:
                # A server that ends every watch at once must not turn this
                # loop into a storm of requests.
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
        except (TimeoutError, client.ApiException, OSError) as exc:
            if isinstance(exc, client.ApiException) and exc.status == 410:
                state.resource_version = None
            logger.warning(
                "List or watch of pods in namespace %s failed, retrying: %s",
                state.namespace,
                exc,
            )
            await asyncio.sleep(ERROR_BACKOFF_SECONDS)


async def _reconcile(state: _State, key: str) -> None:
    raw = state.cache.get(key)
    if raw is None:
        return

    annotations = (raw.get("metadata") or {}).get("annotations") or {}
    if annotations.get(RECONCILED_ANNOTATION) == NAME:
        return

    await asyncio.sleep(state.writes.reserve())
    namespace, _, name = key.partition("/")
    await state.api.patch_namespaced_pod(
        name,
        namespace,
        {"metadata": {"annotations": {RECONCILED_ANNOTATION: NAME}}},
        _request_timeout=5.0,
    )


async def _work(state: _State) -> None:
    while True:
        key = await state.queue.get()
        state.queued.discard(key)
        try:
            await _reconcile(state, key)
            state.backoff.forget(key)
        except client.ApiException as exc:
            if state.backoff.failures(key) < MAX_RETRIES:
                logger.info("Reconcile of pod %s failed, retrying: %s", key, exc)
                state.enqueue_later(key)
            else:
                logger.warning("Giving up on pod %s after %d tries.", key, MAX_RETRIES)
                state.backoff.forget(key)


async def controller(ctx: AsyncControllerContext) -> None:
    """The entry point: run until ``ctx.stop`` is set, then clean up and return."""
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(ctx.kubeconfig),
        client_configuration=configuration,
        persist_config=False,
    )

    async with client.ApiClient(configuration) as api_client:
        api_client.user_agent = f"leakhunt-{NAME}"
        state = _State(client.CoreV1Api(api_client), ctx)
        tasks = [
            asyncio.create_task(_list_watch(state), name=f"{NAME}-informer"),
            asyncio.create_task(_work(state), name=f"{NAME}-worker"),
        ]
        logger.info("Controller %s started on namespace %s.", NAME, ctx.namespace)

        try:
            await ctx.stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for handle in state.timers:
                handle.cancel()
            state.timers.clear()
            logger.info("Controller %s stopped.", NAME)

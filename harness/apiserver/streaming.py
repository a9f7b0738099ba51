"""WATCH: a chunked stream of JSON lines, one event per line.

A watch starts from the requested resourceVersion: the history after it is
replayed (or, when it is older than the history, a single 410 ERROR event
ends the stream, as kube-apiserver does), then live events follow until the
timeout, a server-side close, or the client going away. Bookmarks, when the
client allows them, carry the current revision every ``bookmark_interval``
and once more just before a timeout ends the stream, after every event queued
until then, so that a client resuming from the last bookmark misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from harness.apiserver import status as errors
from harness.apiserver.audit import AuditRecord
from harness.apiserver.handlers import JSON, request_header, wait_for_revision
from harness.apiserver.list_options import ListOptions, parse_list_options
from harness.apiserver.routing import Target
from harness.apiserver.store import Store
from harness.apiserver.tables import table, wants_table
from harness.apiserver.watchers import (
    ADDED,
    Watcher,
    WatchEvent,
    bookmark_line,
    event_line,
    gone_line,
    peer_of,
)

logger = logging.getLogger(__name__)

DEFAULT_WATCH_TIMEOUT = 1800.0
"""Seconds a watch lasts when the client sets no timeoutSeconds (kube's minimum)."""

DEFAULT_BOOKMARK_INTERVAL = 60.0
"""Seconds between bookmarks, for watches that allow them (kube sends ~1/min)."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """WatchSettings are the server-wide defaults of every watch."""

    timeout: float = DEFAULT_WATCH_TIMEOUT
    bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL


def _table_encoder(include_object: str) -> Any:
    def encode(type_: str, event: WatchEvent) -> bytes:
        meta = {"resourceVersion": str(event.revision)}
        row = table(event.resource, [orjson.loads(event.raw)], meta, include_object)
        return event_line(type_, row)

    return encode


class WatchStreams:
    """WatchStreams opens watches on the store and streams them to clients."""

    def __init__(self, store: Store, settings: WatchSettings) -> None:
        self.store = store
        self.settings = settings

    def _open(
        self, request: web.Request, target: Target, options: ListOptions
    ) -> Watcher:
        store = self.store
        resource = target.resource
        encoder = None
        if wants_table(request.headers.get("Accept", "")):
            encoder = _table_encoder(
                request.query.get("includeObject", "PartialObjectMetadata")
            )

        watcher = Watcher(
            id=store.watches.next_id(),
            resource=resource,
            namespace=target.namespace,
            path=request.path_qs,
            label_text=options.label_text,
            field_text=options.field_text,
            label_selector=options.label_selector,
            field_selector=options.field_selector,
            user_agent=request_header(request, "User-Agent"),
            resource_version=store.revision,
            peer=peer_of(request.transport),
            encoder=encoder,
        )

        # First, what happened before the watch: the current state as ADDED
        # events, or the history after the requested revision.
        rv = options.resource_version
        initial = options.send_initial_events
        if initial is None:
            initial = rv is None or rv == 0
        if initial:
            for ns, name, entry in store.list(
                resource,
                target.namespace,
                options.label_selector,
                options.field_selector,
            ):
                event = WatchEvent(
                    entry.revision,
                    ADDED,
                    resource,
                    ns,
                    name,
                    entry.raw,
                    entry.labels,
                    entry.fields,
                )
                watcher.push(encoder(ADDED, event) if encoder else event.line())
            watcher.resource_version = store.revision
            if options.send_initial_events:
                watcher.push(bookmark_line(resource, store.revision, initial_end=True))
        elif rv is not None and rv != 0:
            if store.is_compacted(rv):
                # NB: 410 means the events after the client's resourceVersion
                # are gone from the history; the client must LIST again.
                watcher.close("too old", gone_line(rv, store.compacted_revision))
                return watcher
            watcher.resource_version = rv
            for event in store.events_since(resource, rv):
                watcher.offer(event)

        # Then, live events, with nothing missed in between: the replay above
        # and the registration run without yielding to the event loop.
        store.watches.register(watcher)
        return watcher

    async def serve(
        self, request: web.Request, target: Target, record: AuditRecord
    ) -> web.StreamResponse:
        """Answer a watch request with a stream that lasts until it ends."""
        options = parse_list_options(request.query, target.resource, target.name)
        if options.send_initial_events and not options.allow_bookmarks:
            raise errors.ApiError(
                422,
                "Invalid",
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for "
                "watch unless allowWatchBookmarks=true",
            )
        record.label_selector = options.label_text
        record.field_selector = options.field_text
        await wait_for_revision(self.store, options.resource_version)

        watcher = self._open(request, target, options)
        response = web.StreamResponse(headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await self._pump(response, watcher, options, record)
        except (ConnectionResetError, ConnectionError):
            logger.debug(
                "The client of watch %d on %s went away.", watcher.id, watcher.path
            )
        finally:
            self.store.watches.unregister(watcher)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _pump(
        self,
        response: web.StreamResponse,
        watcher: Watcher,
        options: ListOptions,
        record: AuditRecord,
    ) -> None:
        timeout = options.timeout_seconds
        if timeout is None or timeout <= 0:
            timeout = self.settings.timeout
        interval = self.settings.bookmark_interval
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + interval

        while True:
            # NB: a write to a slow client waits, and meanwhile events, a close
            # and its final line may be queued: every turn takes them all, and
            # whatever ends the stream goes after them, never instead of them.
            lines = watcher.take()
            if watcher.closed is not None:
                await _send(response, watcher, record, lines)
                return

            now = time.monotonic()
            if now >= deadline:
                if options.allow_bookmarks:
                    # Made in the same step as the events were taken, so every
                    # event up to its revision is sent before it.
                    lines.append(
                        bookmark_line(
                            watcher.resource, self.store.revision, initial_end=False
                        )
                    )
                await _send(response, watcher, record, lines)
                return
            if lines:
                await _send(response, watcher, record, lines)
                continue

            if options.allow_bookmarks and now >= next_bookmark:
                watcher.resource_version = self.store.revision
                watcher.push(
                    bookmark_line(
                        watcher.resource, self.store.revision, initial_end=False
                    )
                )
                next_bookmark = now + interval
                continue

            wait = deadline - now
            if options.allow_bookmarks:
                wait = min(wait, next_bookmark - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), wait)


async def _send(
    response: web.StreamResponse,
    watcher: Watcher,
    record: AuditRecord,
    lines: list[bytes],
) -> None:
    """Write queued lines to the client, counting them for the audit."""
    if not lines:
        return
    chunk = b"".join(lines)
    await response.write(chunk)
    watcher.sent_events += len(lines)
    record.bytes_sent += len(chunk)

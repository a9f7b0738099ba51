"""Watch events, the open watches, and the fan-out of one to the other.

Every write in the store becomes one :class:`WatchEvent`, kept in the store's
history and handed to :meth:`WatchHub.dispatch`. Each open :class:`Watcher`
filters it by namespace and selectors and appends the bytes to send to its own
buffer; the HTTP side drains that buffer onto the wire. Both run on the same
event loop, so a watcher registered after replaying the history misses
nothing and sees nothing twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from harness.apiserver import status as errors
from harness.apiserver.fields import FieldSelector
from harness.apiserver.resources import ResourceType
from harness.apiserver.selectors import LabelSelector

logger = logging.getLogger(__name__)

WATCH_BUFFER_LIMIT = 100_000
"""Events a watcher may fall behind by before the server closes it.

kube-apiserver also terminates watchers that cannot keep up; the client sees
the stream end and resumes from its last resourceVersion.
"""

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


@dataclass(slots=True)
class WatchEvent:
    """WatchEvent is one change in the store, as every watcher will see it."""

    revision: int
    type: str
    resource: ResourceType
    namespace: str
    name: str
    raw: bytes
    """The object after the change (for DELETED: its last state)."""
    labels: Mapping[str, str]
    fields: Mapping[str, str]
    prev_labels: Mapping[str, str] | None = None
    prev_fields: Mapping[str, str] | None = None
    time: float = field(default_factory=time.monotonic)
    _line: bytes | None = None

    def line(self, type_: str | None = None) -> bytes:
        """Return the JSON line a watch stream sends for this event."""
        if type_ is None or type_ == self.type:
            if self._line is None:
                self._line = event_line(self.type, self.raw)
            return self._line
        return event_line(type_, self.raw)


def event_line(type_: str, raw_object: bytes) -> bytes:
    """Return ``{"type": ..., "object": ...}`` and a newline, by concatenation."""
    return b'{"type":"' + type_.encode() + b'","object":' + raw_object + b"}\n"


def field_values(
    name: str, namespace: str, fields: Mapping[str, str]
) -> dict[str, str]:
    """Return every selectable field of an object, flattened by dotted path."""
    values = {"metadata.name": name, "metadata.namespace": namespace}
    values.update(fields)
    return values


def peer_of(transport: asyncio.BaseTransport | None) -> str:
    """Return the client's address on a connection as ``host:port``.

    IPv6 hosts are bracketed (``[::1]:51234``); "" once the client has gone.
    """
    peername = transport.get_extra_info("peername") if transport else None
    if not isinstance(peername, tuple) or len(peername) < 2:
        return ""
    host, port = str(peername[0]), peername[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


Encoder = Callable[[str, "WatchEvent"], bytes]
"""Turns an event of a given type into the line to send (for Table watches)."""


@dataclass(eq=False, slots=True)
class Watcher:
    """Watcher is one open watch: what it asked for and what it has yet to send."""

    id: int
    resource: ResourceType
    namespace: str | None
    path: str
    label_text: str
    field_text: str
    label_selector: LabelSelector | None
    field_selector: FieldSelector | None
    user_agent: str
    resource_version: int
    peer: str = ""
    """The client's address as this server sees it, ``host:port``."""
    started: float = field(default_factory=time.time)
    encoder: Encoder | None = None
    buffer: list[bytes] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: str | None = None
    """Why the server ended this watch, once it has."""
    sent_events: int = 0

    def _selected(
        self,
        name: str,
        namespace: str,
        labels: Mapping[str, str],
        fields: Mapping[str, str],
    ) -> bool:
        if self.label_selector is not None and not self.label_selector.matches(labels):
            return False
        if self.field_selector is not None:
            return self.field_selector.matches_values(
                field_values(name, namespace, fields)
            )
        return True

    def offer(self, event: WatchEvent) -> None:
        """Queue the event if it concerns this watch, as the type this watch sees.

        An object that stops matching the selectors is, for this watch, deleted;
        one that starts matching is added, as kube-apiserver reports them.
        """
        if self.closed is not None:
            return
        if self.namespace is not None and event.namespace != self.namespace:
            return

        type_ = event.type
        now = self._selected(event.name, event.namespace, event.labels, event.fields)
        if type_ == MODIFIED and event.prev_labels is not None:
            before = self._selected(
                event.name,
                event.namespace,
                event.prev_labels,
                event.prev_fields or {},
            )
            if before and not now:
                type_ = DELETED
            elif now and not before:
                type_ = ADDED
            elif not now:
                return
        elif not now:
            return

        self.push(self.encoder(type_, event) if self.encoder else event.line(type_))
        self.resource_version = event.revision

    def push(self, line: bytes) -> None:
        """Queue one line to send, closing the watch if the client lags too far."""
        self.buffer.append(line)
        self.wake.set()
        if len(self.buffer) > WATCH_BUFFER_LIMIT:
            logger.warning(
                "The watch %d on %s fell %d events behind; closing it.",
                self.id,
                self.path,
                len(self.buffer),
            )
            self.buffer.clear()
            self.close("slow")

    def close(self, reason: str, final_line: bytes | None = None) -> None:
        """End the watch; the stream sends ``final_line`` (if any) and finishes."""
        if self.closed is not None:
            return
        if final_line is not None:
            self.buffer.append(final_line)
        self.closed = reason
        self.wake.set()

    def take(self) -> list[bytes]:
        """Return and forget everything queued so far."""
        lines, self.buffer = self.buffer, []
        self.wake.clear()
        return lines

    def describe(self) -> dict[str, Any]:
        """Return the watch as the control endpoint lists it."""
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started))
        return {
            "id": self.id,
            "peer": self.peer,
            "url": self.path,
            "since": f"{started[:-1]}.{int(self.started % 1 * 1e6):06d}Z",
            "path": self.path,
            "group": self.resource.group,
            "version": self.resource.version,
            "resource": self.resource.plural,
            "namespace": self.namespace,
            "labelSelector": self.label_text,
            "fieldSelector": self.field_text,
            "resourceVersion": str(self.resource_version),
            "userAgent": self.user_agent,
            "started": started,
            "sentEvents": self.sent_events,
        }


@dataclass(slots=True)
class WatchHub:
    """WatchHub is the registry of open watches and the fan-out to them."""

    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _open: dict[int, Watcher] = field(default_factory=dict)
    _by_resource: dict[tuple[str, str], set[Watcher]] = field(default_factory=dict)

    def next_id(self) -> int:
        """Return a fresh watch id."""
        return next(self._ids)

    def register(self, watcher: Watcher) -> None:
        """Start delivering events to the watcher."""
        self._open[watcher.id] = watcher
        self._by_resource.setdefault(watcher.resource.key, set()).add(watcher)
        logger.debug("The watch %d on %s is open.", watcher.id, watcher.path)

    def unregister(self, watcher: Watcher) -> None:
        """Stop delivering events to the watcher and forget it."""
        self._open.pop(watcher.id, None)
        watchers = self._by_resource.get(watcher.resource.key)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._by_resource[watcher.resource.key]
        logger.debug("The watch %d on %s is closed.", watcher.id, watcher.path)

    def dispatch(self, event: WatchEvent) -> None:
        """Offer one event to every watch on its resource.

        A watch that fails to take the event (its Table rendering, say) is
        closed with an ERROR event; the write and the other watches go on.
        """
        for watcher in self._by_resource.get(event.resource.key, ()):
            try:
                watcher.offer(event)
            except Exception as exc:
                logger.exception(
                    "The watch %d on %s failed on the event of revision %d "
                    "(%s %s/%s); closing it with an error.",
                    watcher.id,
                    watcher.path,
                    event.revision,
                    event.type,
                    event.namespace,
                    event.name,
                )
                watcher.close("failed", internal_error_line(event, exc))

    def open_watches(self) -> list[Watcher]:
        """Return the open watches, oldest first."""
        return list(self._open.values())

    def count_by_resource(self) -> dict[ResourceType, int]:
        """Return how many watches are open on each resource type (and version)."""
        counts: dict[ResourceType, int] = {}
        for watcher in self._open.values():
            counts[watcher.resource] = counts.get(watcher.resource, 0) + 1
        return counts

    def drop_all(self) -> int:
        """End every open watch without an error, as a dropped connection would."""
        watchers = self.open_watches()
        for watcher in watchers:
            watcher.close("dropped")
        logger.info("Dropped %d open watches.", len(watchers))
        return len(watchers)

    def expire_all(self, current_revision: int) -> int:
        """End every open watch with a 410 Gone ERROR event, forcing a re-list."""
        watchers = self.open_watches()
        for watcher in watchers:
            watcher.close(
                "expired", gone_line(watcher.resource_version, current_revision)
            )
        logger.info("Expired %d open watches with 410 Gone.", len(watchers))
        return len(watchers)

    def close_resource(self, resource: ResourceType) -> None:
        """End the watches on a resource that is no longer served."""
        for watcher in list(self._by_resource.get(resource.key, ())):
            if watcher.resource == resource:
                watcher.close("resource removed")


def gone_line(requested: int, oldest: int) -> bytes:
    """Return the ERROR event kube-apiserver sends to a watch that is too old."""
    error = errors.gone(f"too old resource version: {requested} ({oldest})")
    return event_line(ERROR, error.body())


def internal_error_line(event: WatchEvent, exc: Exception) -> bytes:
    """Return the ERROR event that ends a watch the server failed to serve."""
    error = errors.ApiError(
        500,
        "InternalError",
        f"an error on the server ({type(exc).__name__}: {exc}) prevented the "
        f"change of {event.resource.plural} {event.namespace}/{event.name} at "
        f"resourceVersion {event.revision} from reaching this watch; list and "
        "watch again",
    )
    return event_line(ERROR, error.body())


def bookmark_line(resource: ResourceType, revision: int, *, initial_end: bool) -> bytes:
    """Return a BOOKMARK event carrying only a resourceVersion."""
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_end:
        # NB: this annotation tells a client using sendInitialEvents that the
        # synthetic ADDED events of the current state are over.
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = {
        "kind": resource.kind,
        "apiVersion": resource.api_version,
        "metadata": metadata,
    }
    return event_line(BOOKMARK, orjson.dumps(obj))

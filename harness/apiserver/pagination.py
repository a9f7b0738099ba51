"""LIST pagination: consistent pages through ``limit`` and ``continue``.

kube-apiserver serves every page of a paginated LIST from the same etcd
revision, so a client sees one consistent snapshot however slowly it pages
and whatever is written meanwhile. The simulator gets the same result by
keeping the selected entries of the first page's LIST (references to bytes
that already exist, so a snapshot costs a list of pointers) until the client
has read the last page, the snapshot ages out, or too many are kept.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from harness.apiserver import status as errors
from harness.apiserver.store import Entry

logger = logging.getLogger(__name__)

SNAPSHOT_LIMIT = 64
"""Unfinished paginated LISTs remembered at once; the oldest is forgotten first."""

Item = tuple[str, str, Entry]
"""(namespace, name, entry) of one listed object."""


@dataclass(frozen=True, slots=True)
class ListScope:
    """ListScope is what a LIST selects: a continue token serves only the same.

    ``resource`` is the qualified plural (``pods``, ``deployments.apps``);
    ``namespace`` is None for a list across namespaces.
    """

    resource: str
    namespace: str | None
    label_selector: str = ""
    field_selector: str = ""

    def describe(self) -> str:
        """Say what the list selects, for messages."""
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        described = f"{self.resource} in {where}"
        if self.label_selector:
            described += f" with labelSelector {self.label_selector!r}"
        if self.field_selector:
            described += f" with fieldSelector {self.field_selector!r}"
        return described


@dataclass(slots=True)
class Snapshot:
    """Snapshot is the full result of a paginated LIST, kept for its next pages."""

    scope: ListScope
    revision: int
    items: list[Item]
    created: float


@dataclass(slots=True)
class Page:
    """Page is one page of a LIST and what the client needs to ask for the next."""

    revision: int
    items: list[Item]
    continue_token: str
    remaining: int | None


@dataclass(slots=True)
class Paginator:
    """Paginator keeps the snapshots of unfinished LISTs and cuts them into pages."""

    ttl: float
    _snapshots: OrderedDict[int, Snapshot] = field(default_factory=OrderedDict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def first_page(
        self, scope: ListScope, revision: int, items: list[Item], limit: int | None
    ) -> Page:
        """Return the first page of a fresh LIST, remembering the rest if any."""
        if not limit or len(items) <= limit:
            return Page(revision, items, "", None)

        self._expire()
        snapshot_id = next(self._ids)
        self._snapshots[snapshot_id] = Snapshot(
            scope, revision, items, time.monotonic()
        )
        while len(self._snapshots) > SNAPSHOT_LIMIT:
            self._snapshots.popitem(last=False)
        return self._cut(snapshot_id, 0, limit)

    def next_page(self, scope: ListScope, token: str, limit: int | None) -> Page:
        """Return the page a continue token points at, or raise 410 if it is gone.

        A token continues only a list of the same resource, namespace and
        selectors as the one that returned it; any other list is a 400.
        """
        snapshot_id, offset = decode_token(token)
        self._expire()
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            raise errors.gone(
                "The provided continue parameter is too old to display a "
                "consistent list result. You can start a new list without the "
                "continue parameter."
            )
        if snapshot.scope != scope:
            raise errors.bad_request(
                f"continue key is not valid: it continues a list of "
                f"{snapshot.scope.describe()}, not of {scope.describe()}; send it "
                "with the resource, namespace and selectors of the list that "
                "returned it, or start a new list without continue"
            )
        return self._cut(snapshot_id, offset, limit)

    def _cut(self, snapshot_id: int, offset: int, limit: int | None) -> Page:
        snapshot = self._snapshots[snapshot_id]
        end = len(snapshot.items) if not limit else offset + limit
        items = snapshot.items[offset:end]
        if end >= len(snapshot.items):
            del self._snapshots[snapshot_id]
            return Page(snapshot.revision, items, "", None)

        remaining = len(snapshot.items) - end
        token = encode_token(snapshot_id, end, snapshot.revision)
        return Page(snapshot.revision, items, token, remaining)

    def _expire(self) -> None:
        horizon = time.monotonic() - self.ttl
        while self._snapshots:
            oldest = next(iter(self._snapshots.values()))
            if oldest.created >= horizon:
                break
            self._snapshots.popitem(last=False)


def encode_token(snapshot_id: int, offset: int, revision: int) -> str:
    """Return the opaque continue token of a page."""
    payload = {"v": "meta.k8s.io/v1", "rv": revision, "s": snapshot_id, "o": offset}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def decode_token(token: str) -> tuple[int, int]:
    """Return (snapshot id, offset) from a continue token, or raise 400."""
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        snapshot_id, offset = payload["s"], payload["o"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise errors.bad_request(
            f"continue key is not valid: {token!r} is not a token this server "
            "returned; start a new list without the continue parameter"
        ) from exc
    if not isinstance(snapshot_id, int) or not isinstance(offset, int) or offset < 0:
        raise errors.bad_request(f"continue key is not valid: {token!r}")
    return snapshot_id, offset

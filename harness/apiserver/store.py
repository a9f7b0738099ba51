"""The in-memory object store: one global revision, history and compaction.

Objects are kept as the JSON bytes a client will receive (serialized once, at
write time, with orjson), next to the few values selectors need, so that LIST
is byte concatenation and a watch event costs one concatenation for every
watcher. Every write bumps one global revision, like etcd, and becomes a
:class:`~harness.apiserver.watchers.WatchEvent` in a history bounded in time
and length; watching from a revision older than the history answers 410 Gone.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from harness.apiserver import status as errors
from harness.apiserver.fields import FieldSelector
from harness.apiserver.limits import encode_object
from harness.apiserver.resources import CRD, NAMESPACES, ResourceRegistry, ResourceType
from harness.apiserver.selectors import LabelSelector
from harness.apiserver.server_set import (
    merged_update,
    name_from_metadata,
    now_rfc3339,
    spec_of,
    stamp_created,
)
from harness.apiserver.validation import (
    validate_crd,
    validate_metadata,
    validate_name,
    validate_sections,
)
from harness.apiserver.watchers import (
    ADDED,
    DELETED,
    MODIFIED,
    WatchEvent,
    WatchHub,
    field_values,
)

__all__ = [
    "DEFAULT_COMPACTION_WINDOW",
    "HISTORY_LIMIT",
    "INTERN_LIMIT",
    "PROTECTED_NAMESPACES",
    "Bucket",
    "Entry",
    "Preconditions",
    "Store",
    "now_rfc3339",
]
"""The store's public names; ``now_rfc3339`` too, for writers outside it."""

logger = logging.getLogger(__name__)

DEFAULT_COMPACTION_WINDOW = 300.0
"""Seconds of history kept for watches, like kube-apiserver's etcd compaction."""

HISTORY_LIMIT = 100_000
"""Events kept at most, whatever their age, so churn cannot grow the history."""

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
"""Namespaces kube-apiserver refuses to delete."""

INTERN_LIMIT = 4096
"""Distinct label and field maps shared between objects before starting over."""

_EMPTY: Mapping[str, str] = {}


@dataclass(slots=True)
class Entry:
    """Entry is one stored object: its bytes and what selectors need from it."""

    raw: bytes
    revision: int
    labels: Mapping[str, str]
    fields: Mapping[str, str]

    def load(self) -> dict[str, Any]:
        """Return a fresh, mutable copy of the object."""
        loaded: dict[str, Any] = orjson.loads(self.raw)
        return loaded


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Preconditions of a delete: the uid and resourceVersion it expects."""

    uid: str | None = None
    resource_version: str | None = None


Bucket = dict[str, dict[str, Entry]]
"""Objects of one resource, by namespace ("" when cluster-scoped) then name."""


class Store:
    """Store holds every object, the global revision and the event history."""

    def __init__(
        self,
        *,
        compaction_window: float = DEFAULT_COMPACTION_WINDOW,
        history_limit: int = HISTORY_LIMIT,
    ) -> None:
        self.registry = ResourceRegistry()
        self.watches = WatchHub()
        self.compaction_window = compaction_window
        self.revision = 1
        self.compacted_revision = 1
        self._history: deque[WatchEvent] = deque()
        self._history_limit = history_limit
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._sorted: dict[tuple[tuple[str, str], str], list[str]] = {}
        """Sorted names of a resource's objects in one namespace."""
        self._terminating: set[str] = set()
        self._interned: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}

    # Reading.

    def get(self, resource: ResourceType, namespace: str, name: str) -> Entry:
        """Return the object, or raise the 404 Status."""
        entry = self._buckets.get(resource.key, {}).get(namespace, {}).get(name)
        if entry is None:
            raise errors.not_found(resource.plural, resource.group, name)
        return entry

    def find(self, resource: ResourceType, namespace: str, name: str) -> Entry | None:
        """Return the object if it exists."""
        return self._buckets.get(resource.key, {}).get(namespace, {}).get(name)

    def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> list[tuple[str, str, Entry]]:
        """Return (namespace, name, entry) of the selected objects in key order."""
        bucket = self._buckets.get(resource.key, {})
        namespaces = [namespace] if namespace is not None else sorted(bucket)

        selected = []
        for ns in namespaces:
            names = bucket.get(ns)
            if not names:
                continue
            keys = self._sorted.get((resource.key, ns))
            if keys is None:
                keys = self._sorted[(resource.key, ns)] = sorted(names)
            for name in keys:
                entry = names[name]
                if label_selector is not None and not label_selector.matches(
                    entry.labels
                ):
                    continue
                if field_selector is not None and not field_selector.matches_values(
                    field_values(name, ns, entry.fields)
                ):
                    continue
                selected.append((ns, name, entry))
        return selected

    def count(self, resource: ResourceType | None = None) -> int:
        """Return how many objects are stored, of one resource or in all."""
        buckets = (
            [self._buckets.get(resource.key, {})]
            if resource
            else self._buckets.values()
        )
        return sum(len(names) for bucket in buckets for names in bucket.values())

    def namespace_exists(self, namespace: str) -> bool:
        """Tell whether the namespace exists (terminating or not)."""
        return self.find(NAMESPACES, "", namespace) is not None

    def events_since(
        self, resource: ResourceType, revision: int
    ) -> Iterator[WatchEvent]:
        """Yield the resource's events after ``revision``, oldest first.

        The caller must check :meth:`is_compacted` first.
        """
        newer = []
        for event in reversed(self._history):
            if event.revision <= revision:
                break
            if event.resource.key == resource.key:
                newer.append(event)
        yield from reversed(newer)

    def is_compacted(self, revision: int) -> bool:
        """Tell whether events after ``revision`` may be missing from the history."""
        return revision < self.compacted_revision

    # Writing.

    def create(
        self,
        resource: ResourceType,
        namespace: str,
        obj: dict[str, Any],
        *,
        keep_status: bool = False,
    ) -> Entry:
        """Store a new object, filling in its server-set metadata."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        name = name_from_metadata(resource, meta)
        validate_name(resource, name)
        assert isinstance(name, str)

        if resource.namespaced:
            self._check_namespace_open(namespace)
        else:
            namespace = ""
        if self.find(resource, namespace, name) is not None:
            raise errors.already_exists(resource.plural, resource.group, name)

        validate_metadata(resource, meta)
        validate_sections(resource, obj)
        if resource == CRD:
            validate_crd(obj)
        stamp_created(resource, namespace, obj, keep_status=keep_status)
        return self._commit(resource, namespace, name, obj, ADDED, previous=None)

    def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        obj: dict[str, Any],
        *,
        subresource: str | None = None,
    ) -> Entry:
        """Replace an object, or its status, checking its resourceVersion."""
        namespace = namespace if resource.namespaced else ""
        current = self.get(resource, namespace, name)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        expected = meta.get("resourceVersion")
        if expected and expected != str(current.revision):
            raise errors.conflict(resource.plural, resource.group, name)
        validate_metadata(resource, meta)
        validate_sections(resource, obj)
        if resource == CRD and subresource is None:
            validate_crd(obj)

        old = current.load()
        new = merged_update(resource, old, obj, subresource)
        new_meta = new["metadata"]
        old_meta = old["metadata"]

        if new == old:
            # NB: kube-apiserver does not bump the resourceVersion of a no-op
            # write, and sends no watch event for it.
            return current
        if spec_of(new) != spec_of(old):
            new_meta["generation"] = int(old_meta.get("generation", 1)) + 1

        if "deletionTimestamp" in new_meta and not new_meta.get("finalizers"):
            if resource == NAMESPACES and self._has_content(name):
                # NB: a terminating namespace goes once its content has gone,
                # whichever of the two is last.
                return self._commit(
                    resource, namespace, name, new, MODIFIED, previous=current
                )
            self._terminating.discard(name if resource == NAMESPACES else "")
            return self._remove(resource, namespace, name, new, current)
        return self._commit(resource, namespace, name, new, MODIFIED, previous=current)

    def delete(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        preconditions: Preconditions | None = None,
    ) -> tuple[Entry, bool]:
        """Delete an object; return its last state and whether it is gone.

        An object with finalizers is only marked with a deletionTimestamp; it
        goes once an update has removed the last finalizer.
        """
        namespace = namespace if resource.namespaced else ""
        current = self.get(resource, namespace, name)
        obj = current.load()
        meta = obj["metadata"]
        if preconditions is not None:
            self._check_preconditions(resource, name, meta, preconditions)

        if resource == NAMESPACES:
            if name in PROTECTED_NAMESPACES:
                raise errors.ApiError(
                    403,
                    "Forbidden",
                    f'namespaces "{name}" is forbidden: this namespace may not be '
                    "deleted",
                    name=name,
                    kind="namespaces",
                )
            return self._delete_namespace(name, obj, current)
        if meta.get("finalizers"):
            if "deletionTimestamp" in meta:
                return current, False
            meta["deletionTimestamp"] = now_rfc3339()
            meta["deletionGracePeriodSeconds"] = 0
            marked = self._commit(
                resource, namespace, name, obj, MODIFIED, previous=current
            )
            return marked, False
        return self._remove(resource, namespace, name, obj, current), True

    def compact(self) -> int:
        """Forget the whole history now; return the revision compacted to."""
        self.compacted_revision = self.revision
        dropped = len(self._history)
        self._history.clear()
        logger.info(
            "Compacted the history to revision %d, dropping %d events.",
            self.revision,
            dropped,
        )
        return self.revision

    def trim_history(self, now: float | None = None) -> None:
        """Drop the events older than the compaction window."""
        horizon = (time.monotonic() if now is None else now) - self.compaction_window
        history = self._history
        while history and (
            history[0].time < horizon or len(history) > self._history_limit
        ):
            self.compacted_revision = history.popleft().revision

    # Internals.

    def _commit(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        obj: dict[str, Any],
        type_: str,
        *,
        previous: Entry | None,
    ) -> Entry:
        # First, everything that may still refuse the write: the bytes, then
        # the resources a CRD serves. Until both are done nothing has changed,
        # neither the revision nor what the registry serves.
        revision = self.revision + 1
        obj["metadata"]["resourceVersion"] = str(revision)
        raw = _exact_bytes(encode_object(resource, name, obj))
        if resource == CRD and type_ != DELETED:
            self.registry.register_crd(obj)

        # Then the write itself, which cannot fail.
        self.revision = revision
        entry = Entry(
            raw=raw,
            revision=revision,
            labels=self._intern(obj["metadata"].get("labels")),
            fields=self._intern(_selectable_fields(resource, obj)),
        )

        bucket = self._buckets.setdefault(resource.key, {})
        if type_ == DELETED:
            names = bucket[namespace]
            del names[name]
            if not names:
                del bucket[namespace]
            self._sorted.pop((resource.key, namespace), None)
        else:
            names = bucket.setdefault(namespace, {})
            if name not in names:
                self._sorted.pop((resource.key, namespace), None)
            names[name] = entry

        event = WatchEvent(
            revision=self.revision,
            type=type_,
            resource=resource,
            namespace=namespace,
            name=name,
            raw=entry.raw,
            labels=entry.labels,
            fields=entry.fields,
            prev_labels=previous.labels if previous and type_ == MODIFIED else None,
            prev_fields=previous.fields if previous and type_ == MODIFIED else None,
        )
        self._history.append(event)
        self.watches.dispatch(event)
        self.trim_history(event.time)
        return entry

    def _remove(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        obj: dict[str, Any],
        current: Entry,
    ) -> Entry:
        entry = self._commit(resource, namespace, name, obj, DELETED, previous=current)
        if resource == CRD:
            self._forget_crd(obj)
        if namespace in self._terminating:
            self._finish_namespace(namespace)
        return entry

    def _delete_namespace(
        self, name: str, obj: dict[str, Any], current: Entry
    ) -> tuple[Entry, bool]:
        # First, mark the namespace Terminating, as the namespace controller
        # does; then delete its contents; it goes once they are all gone.
        if name not in self._terminating:
            self._terminating.add(name)
            obj["metadata"]["deletionTimestamp"] = now_rfc3339()
            obj.setdefault("status", {})["phase"] = "Terminating"
            current = self._commit(
                NAMESPACES, "", name, obj, MODIFIED, previous=current
            )

        for resource in list(self.registry.served()):
            if not resource.namespaced:
                continue
            for ns, object_name, _ in self.list(resource, name):
                if self.find(resource, ns, object_name) is not None:
                    self.delete(resource, ns, object_name)

        self._finish_namespace(name)
        gone = not self.namespace_exists(name)
        return current, gone

    def _has_content(self, namespace: str) -> bool:
        return any(namespace in bucket for bucket in self._buckets.values())

    def _finish_namespace(self, name: str) -> None:
        if self._has_content(name):
            return
        current = self.find(NAMESPACES, "", name)
        if current is None:
            self._terminating.discard(name)
            return
        obj = current.load()
        if obj["metadata"].get("finalizers"):
            return
        self._terminating.discard(name)
        self._commit(NAMESPACES, "", name, obj, DELETED, previous=current)
        logger.info("The namespace %s is empty and now deleted.", name)

    def _forget_crd(self, crd: Mapping[str, Any]) -> None:
        removed = self.registry.unregister_crd(crd["metadata"]["name"])
        for resource in removed:
            self.watches.close_resource(resource)
        if not removed:
            return

        resource = removed[0]
        for ns, name, entry in self.list(resource, None):
            self._commit(resource, ns, name, entry.load(), DELETED, previous=entry)

    def _check_namespace_open(self, namespace: str) -> None:
        if not self.namespace_exists(namespace):
            raise errors.not_found("namespaces", "", namespace)
        if namespace in self._terminating:
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because "
                "it is being terminated",
                name=namespace,
                kind="namespaces",
            )

    def _check_preconditions(
        self,
        resource: ResourceType,
        name: str,
        meta: Mapping[str, Any],
        preconditions: Preconditions,
    ) -> None:
        if preconditions.uid is not None and preconditions.uid != meta["uid"]:
            raise errors.ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": '
                f"Precondition failed: UID in precondition: {preconditions.uid}, "
                f"UID in object meta: {meta['uid']}",
                name=name,
                group=resource.group,
                kind=resource.plural,
            )
        wanted = preconditions.resource_version
        if wanted is not None and wanted != meta["resourceVersion"]:
            raise errors.conflict(resource.plural, resource.group, name)

    def _intern(self, mapping: Mapping[str, str] | None) -> Mapping[str, str]:
        if not mapping:
            return _EMPTY
        key = tuple(sorted(mapping.items()))
        shared = self._interned.get(key)
        if shared is None:
            if len(self._interned) >= INTERN_LIMIT:
                self._interned.clear()
            shared = self._interned[key] = dict(mapping)
        return shared


def _exact_bytes(serialized: bytes) -> bytes:
    """Return a copy that holds exactly its bytes.

    NB: orjson returns bytes inside the buffer it serialized into (4 KiB or
    more), so keeping what it returns for every object would hold several
    times the JSON's size; a copy of exact length costs one memcpy.
    """
    return memoryview(serialized).tobytes()


def _selectable_fields(
    resource: ResourceType, obj: Mapping[str, Any]
) -> dict[str, str]:
    fields = {}
    for path in resource.fields:
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, bool):
            fields[path] = "true" if node else "false"
        elif node is not None:
            fields[path] = str(node)
        else:
            fields[path] = ""
    return fields

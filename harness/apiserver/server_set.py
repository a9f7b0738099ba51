"""What the server writes into objects: names, metadata, defaults, kept fields.

A client sends an object; the store keeps a different one. On create the
server picks a name for ``generateName``, stamps the metadata only it sets
(``uid``, ``creationTimestamp``, ``generation``...) and fills in the defaults
some resources have (a namespace's finalizer, a pod's Pending phase). On
update it keeps what the client may not change: that metadata, and the status
or the rest of the object, depending on which of the two was written.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from harness.apiserver import status as errors
from harness.apiserver.resources import CRD, NAMESPACES, ResourceType
from harness.apiserver.validation import crd_status

logger = logging.getLogger(__name__)

GENERATED_SUFFIX_LENGTH = 5
"""Random characters kube-apiserver appends to a ``generateName`` prefix."""

_GENERATED_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
"""The characters of a generated suffix: no vowels, so no words, as in kube."""

_IMMUTABLE_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)
"""Metadata only the server sets; an update keeps the stored values."""


def now_rfc3339() -> str:
    """Return the current time as Kubernetes writes timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def name_from_metadata(resource: ResourceType, meta: dict[str, Any]) -> object:
    """Return the name of a new object, generating it from ``generateName``.

    The result is not validated: it is what the client asked for, if anything.
    """
    name = meta.get("name")
    prefix = meta.get("generateName")
    if name or not prefix:
        return name
    if not isinstance(prefix, str):
        raise errors.invalid(
            resource.kind,
            resource.group,
            "",
            "metadata.generateName",
            f"Invalid value: {prefix!r}: expected a string such as 'web-'",
        )
    suffix = "".join(
        secrets.choice(_GENERATED_SUFFIX) for _ in range(GENERATED_SUFFIX_LENGTH)
    )
    meta["name"] = prefix + suffix
    return meta["name"]


def stamp_created(
    resource: ResourceType,
    namespace: str,
    obj: dict[str, Any],
    *,
    keep_status: bool,
) -> None:
    """Set the server's metadata and defaults on an object about to be created."""
    meta = obj["metadata"]
    obj["apiVersion"] = resource.api_version
    obj["kind"] = resource.kind
    for server_set in ("deletionTimestamp", "deletionGracePeriodSeconds"):
        meta.pop(server_set, None)
    if resource.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    meta["generation"] = 1

    if resource == NAMESPACES:
        obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}
    elif resource == CRD:
        obj["status"] = crd_status(obj)
    elif resource.has_status and not keep_status:
        # NB: a create ignores the status of a resource that has a status
        # subresource; pods start Pending until a kubelet says otherwise.
        obj.pop("status", None)
        if resource.kind == "Pod" and not resource.group:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def merged_update(
    resource: ResourceType,
    old: dict[str, Any],
    obj: dict[str, Any],
    subresource: str | None,
) -> dict[str, Any]:
    """Return the object an update of ``old`` with ``obj`` stores."""
    if subresource == "status":
        # NB: an update of the status subresource changes the status only.
        new = dict(old)
        new["status"] = obj.get("status")
        if new["status"] is None:
            new.pop("status")
    else:
        # NB: and an update of the object leaves the status alone when the
        # resource has a status subresource.
        new = obj
        if resource.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)

    new["apiVersion"] = old["apiVersion"]
    new["kind"] = old["kind"]
    new_meta = new["metadata"] = dict(new.get("metadata") or {})
    old_meta = old["metadata"]
    for immutable in _IMMUTABLE_METADATA:
        if immutable in old_meta:
            new_meta[immutable] = old_meta[immutable]
        else:
            new_meta.pop(immutable, None)
    return new


def spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Return the part of an object whose change bumps ``generation``."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}

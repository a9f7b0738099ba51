"""Resource URLs: which resource, namespace, name and verb a request means."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from harness.apiserver import status as errors
from harness.apiserver.resources import ResourceRegistry, ResourceType

logger = logging.getLogger(__name__)

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True, slots=True)
class Target:
    """Target is what a resource URL points at, and the verb the request asks."""

    resource: ResourceType
    namespace: str | None
    """The namespace in the URL; None for cluster-scoped or all-namespace URLs."""
    name: str | None
    subresource: str | None
    verb: str

    @property
    def scope(self) -> str:
        """The scope label kube-apiserver's metrics give this request."""
        if self.name is not None:
            return "resource"
        return "namespace" if self.namespace is not None else "cluster"


def parse_target(
    registry: ResourceRegistry,
    path: str,
    method: str,
    *,
    watch_param: bool,
) -> Target | None:
    """Return the target of a resource URL, None if the URL is not one.

    Raises the 404 Status for a resource the server does not serve and the 405
    for a verb the URL does not take.
    """
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None

    # NB: /api/v1/watch/... is the legacy spelling of ?watch=true, which
    # older clients and kubectl's -w still use on occasion.
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]

    namespace = None
    if (
        len(rest) >= 3
        and rest[0] == "namespaces"
        and rest[2] not in _NAMESPACE_SUBRESOURCES
    ):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.path_not_found(path)

    plural = rest[0]
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    resource = registry.lookup(group, version, plural)
    if resource is None:
        raise errors.path_not_found(path)
    if namespace is not None and not resource.namespaced:
        raise errors.path_not_found(path)
    if subresource is not None and (subresource != "status" or not resource.has_status):
        raise errors.path_not_found(path)

    verb = _verb(method, name, watch_path or watch_param)
    if (
        verb is None
        or verb not in resource.verbs
        or (subresource is not None and verb not in ("get", "update", "patch"))
    ):
        raise errors.method_not_allowed(method, path)
    return Target(resource, namespace, name, subresource, verb)


def _verb(method: str, name: str | None, watch: bool) -> str | None:
    if method == "GET":
        if watch:
            return "watch"
        return "get" if name is not None else "list"
    if name is None:
        return {"POST": "create", "DELETE": "deletecollection"}.get(method)
    return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)

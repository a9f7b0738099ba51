"""Discovery documents: /version, /api, /apis and each group version's resources.

kubectl 1.32 first asks for aggregated discovery
(``as=APIGroupDiscoveryList``); like an older kube-apiserver, the simulator
answers with the legacy documents under ``application/json`` and kubectl falls
back to walking ``/api/v1`` and ``/apis/<group>/<version>``.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.apiserver.resources import ResourceRegistry, ResourceType

logger = logging.getLogger(__name__)

KUBERNETES_VERSION = ("1", "32", "v1.32.0")
"""The Kubernetes version the simulator claims to be (major, minor, git)."""


def version() -> dict[str, Any]:
    """Return the /version document."""
    major, minor, git = KUBERNETES_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"{git}+leakhunt",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> dict[str, Any]:
    """Return the /api document."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {
        "name": name,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def group_list(registry: ResourceRegistry) -> dict[str, Any]:
    """Return the /apis document."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            _group(name, versions)
            for name, versions in registry.group_versions().items()
        ],
    }


def group(registry: ResourceRegistry, name: str) -> dict[str, Any] | None:
    """Return the /apis/<group> document, None if the group is not served."""
    versions = registry.group_versions().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource(resource: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


def resource_list(
    registry: ResourceRegistry, group_name: str, version_name: str
) -> dict[str, Any] | None:
    """Return the APIResourceList of a group version, None if it is not served."""
    resources = registry.in_group_version(group_name, version_name)
    if not resources:
        return None

    entries = []
    for resource in resources:
        entries.append(_resource(resource))
        if resource.has_status:
            entries.append(
                {
                    "name": f"{resource.plural}/status",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group_name}/{version_name}" if group_name else version_name
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }

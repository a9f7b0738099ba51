"""OpenAPI v3 documents: just enough for ``kubectl apply`` to trust the server.

NB: ``kubectl apply`` (validation on, the default) asks /openapi/v3 whether the
PATCH operation of each kind takes the ``fieldValidation`` query parameter.
If it does, kubectl leaves validation to the server; if the document is
missing, kubectl wants /openapi/v2 schemas to validate on the client and
fails without them. So each group version's document declares, for every
resource, a PATCH that takes ``fieldValidation`` and the JSON and merge patch
types. It declares no strategic merge patch and no schemas, so kubectl
computes strategic merge patches from its built-in types (and merge patches
for custom resources), as it does against servers without schemas.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson

from harness.apiserver.resources import ResourceRegistry, ResourceType

logger = logging.getLogger(__name__)

PATCH_CONTENT_TYPES = ("application/json-patch+json", "application/merge-patch+json")
"""Patch types the OpenAPI documents declare for every PATCH operation."""


def group_version_path(group: str, version: str) -> str:
    """Return ``api/v1`` or ``apis/<group>/<version>``, as OpenAPI v3 names them."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _patch_operation(resource: ResourceType) -> dict[str, Any]:
    return {
        "operationId": f"patch{resource.kind}",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}}
            for name in ("dryRun", "fieldManager", "fieldValidation", "force")
        ],
        "requestBody": {
            "content": {
                kind: {"schema": {"type": "object"}} for kind in PATCH_CONTENT_TYPES
            },
            "required": True,
        },
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": resource.group,
            "version": resource.version,
            "kind": resource.kind,
        },
    }


def group_version_document(
    registry: ResourceRegistry, group: str, version: str
) -> dict[str, Any] | None:
    """Return the OpenAPI v3 document of one group version, None if not served."""
    resources = registry.in_group_version(group, version)
    if not resources:
        return None

    prefix = "/" + group_version_path(group, version)
    paths = {}
    for resource in resources:
        scope = "/namespaces/{namespace}" if resource.namespaced else ""
        path = f"{prefix}{scope}/{resource.plural}/{{name}}"
        paths[path] = {"patch": _patch_operation(resource)}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root_document(registry: ResourceRegistry) -> dict[str, Any]:
    """Return /openapi/v3: each group version's path, with a hash of its content.

    kubectl caches group version documents by that hash, so a CRD that changes
    a document changes its hash too.
    """
    group_versions = {("", "v1")}
    for resource in registry.served():
        group_versions.add((resource.group, resource.version))

    paths = {}
    for group, version in sorted(group_versions):
        document = group_version_document(registry, group, version)
        digest = hashlib.sha256(orjson.dumps(document)).hexdigest()[:32].upper()
        path = group_version_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}

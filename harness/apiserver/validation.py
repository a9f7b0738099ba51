"""Validation of incoming objects: names, metadata and CRDs, as kube refuses them."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from harness.apiserver import status as errors
from harness.apiserver.resources import BUILTIN_RESOURCES, NAMESPACES, ResourceType
from harness.apiserver.selectors import annotation_key_problem, label_problem

logger = logging.getLogger(__name__)

_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def validate_name(resource: ResourceType, name: object) -> None:
    """Raise the 422 for a missing name, or one kube-apiserver would refuse."""
    if not name:
        raise errors.invalid(
            resource.kind,
            resource.group,
            "",
            "metadata.name",
            "Required value: name or generateName is required",
        )
    pattern, limit = (_LABEL, 63) if resource == NAMESPACES else (_SUBDOMAIN, 253)
    if not isinstance(name, str) or len(name) > limit or not pattern.fullmatch(name):
        raise errors.invalid(
            resource.kind,
            resource.group,
            str(name),
            "metadata.name",
            f"Invalid value: {name!r}: a lowercase RFC 1123 "
            f"{'label' if limit == 63 else 'subdomain'} of at most {limit} "
            "characters must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
        )


def validate_sections(resource: ResourceType, obj: Mapping[str, Any]) -> None:
    """Raise the 422 for a ``spec`` or ``status`` that is not an object."""
    for section in ("spec", "status"):
        value = obj.get(section)
        if value is not None and not isinstance(value, dict):
            name = str((obj.get("metadata") or {}).get("name", ""))
            raise errors.invalid(
                resource.kind,
                resource.group,
                name,
                section,
                f"Invalid value: {orjson.dumps(value).decode()[:200]}: "
                "expected an object",
            )


def validate_metadata(resource: ResourceType, meta: Mapping[str, Any]) -> None:
    """Raise the 422 for labels, annotation keys or finalizers kube-apiserver
    would refuse."""
    name = str(meta.get("name", ""))
    for map_field in ("labels", "annotations"):
        value = meta.get(map_field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
            isinstance(v, str) for v in value.values()
        ):
            raise errors.invalid(
                resource.kind,
                resource.group,
                name,
                f"metadata.{map_field}",
                f"Invalid value: {orjson.dumps(value).decode()[:200]}: "
                "expected a map of string keys to string values",
            )

    problems = [
        ("metadata.labels", label_problem(key, value))
        for key, value in (meta.get("labels") or {}).items()
    ] + [
        ("metadata.annotations", annotation_key_problem(key))
        for key in meta.get("annotations") or {}
    ]
    for field, problem in problems:
        if problem is not None:
            raise errors.invalid(resource.kind, resource.group, name, field, problem)
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list)
        or not all(isinstance(f, str) for f in finalizers)
    ):
        raise errors.invalid(
            resource.kind,
            resource.group,
            name,
            "metadata.finalizers",
            "Invalid value: expected a list of strings",
        )


def crd_status(crd: Mapping[str, Any]) -> dict[str, Any]:
    """Return the status of a CRD that is established at once."""
    names = crd.get("spec", {}).get("names", {})
    accepted = dict(names)
    accepted.setdefault("singular", str(names.get("kind", "")).lower())
    accepted.setdefault("listKind", f"{names.get('kind', '')}List")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "acceptedNames": accepted,
        "conditions": [
            {
                "type": condition,
                "status": "True",
                "lastTransitionTime": stamp,
                "reason": reason,
                "message": message,
            }
            for condition, reason, message in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                (
                    "Established",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                ),
            )
        ],
        "storedVersions": [
            v["name"]
            for v in crd.get("spec", {}).get("versions", [])
            if v.get("storage")
        ],
    }


def validate_crd(crd: Mapping[str, Any]) -> None:
    """Raise the 422 for a CRD the simulator could not serve."""
    name = str(crd.get("metadata", {}).get("name", ""))
    spec = crd.get("spec")

    def fail(field: str, detail: str) -> errors.ApiError:
        return errors.invalid(
            "CustomResourceDefinition", "apiextensions.k8s.io", name, field, detail
        )

    if not isinstance(spec, dict):
        raise fail("spec", "Required value")
    names = spec.get("names")
    group = spec.get("group")
    if not isinstance(group, str) or not group:
        raise fail("spec.group", "Required value")
    if "." not in group or len(group) > 253 or not _SUBDOMAIN.fullmatch(group):
        raise fail(
            "spec.group",
            f"Invalid value: {group!r}: should be a domain with at least one dot, "
            "in lower case, such as 'example.com'",
        )
    if not isinstance(names, dict):
        raise fail("spec.names", "Required value")
    for key in ("plural", "kind"):
        if not isinstance(names.get(key), str) or not names[key]:
            raise fail(f"spec.names.{key}", "Required value")
    _refuse_builtin(group, names["plural"], fail)
    if name != f"{names['plural']}.{spec['group']}":
        raise fail(
            "metadata.name",
            f'Invalid value: {name!r}: must be spec.names.plural+"."+spec.group '
            f"({names['plural']}.{spec['group']})",
        )
    _validate_versions(spec.get("versions"), fail)
    for key in ("shortNames", "categories"):
        listed = names.get(key)
        if listed is not None and (
            not isinstance(listed, list) or not all(isinstance(n, str) for n in listed)
        ):
            raise fail(f"spec.names.{key}", "Invalid value: expected a list of strings")
    if spec.get("scope", "Namespaced") not in ("Namespaced", "Cluster"):
        raise fail(
            "spec.scope",
            f"Unsupported value: {spec.get('scope')!r}: supported values: "
            '"Cluster", "Namespaced"',
        )


def _refuse_builtin(
    group: str, plural: str, fail: Callable[[str, str], errors.ApiError]
) -> None:
    # NB: kube-apiserver serves its own resources first, so a CRD of the same
    # group and plural would never be served; here it would replace them.
    for builtin in BUILTIN_RESOURCES:
        if builtin.key == (group, plural):
            raise fail(
                "spec.names.plural",
                f"Invalid value: {plural!r}: {plural}.{group} is a built-in "
                f"resource ({builtin.kind}) and a CustomResourceDefinition cannot "
                "replace it; define the resource in a group of your own, such as "
                "'example.com'",
            )


def _validate_versions(
    versions: object, fail: Callable[[str, str], errors.ApiError]
) -> None:
    if not isinstance(versions, list) or not versions:
        raise fail(
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        )
    for index, version in enumerate(versions):
        if not isinstance(version, dict) or not isinstance(version.get("name"), str):
            raise fail(f"spec.versions[{index}].name", "Required value")
        subresources = version.get("subresources")
        if subresources is not None and not isinstance(subresources, dict):
            raise fail(
                f"spec.versions[{index}].subresources",
                'Invalid value: expected an object such as {"status": {}}',
            )

"""The resource types the simulator serves, built-in and from CRDs."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.apiserver.fields import FIELD_SELECTORS_ALWAYS, POD_FIELD_SELECTORS

logger = logging.getLogger(__name__)

VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
"""The verbs served resources answer, as discovery lists them."""


@dataclass(frozen=True, slots=True)
class ResourceType:
    """ResourceType is one REST resource: where it lives and what it is called."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_status: bool = False
    fields: tuple[str, ...] = ()
    """Field selectors this resource supports beyond ``metadata.*``."""
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of its objects: ``v1`` or ``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        """The lower-case kind, as discovery's ``singularName``."""
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """The (group, plural) pair that names it across versions."""
        return (self.group, self.plural)

    @property
    def supported_fields(self) -> tuple[str, ...]:
        """Every field selector the resource supports."""
        return FIELD_SELECTORS_ALWAYS + self.fields

    @property
    def verbs(self) -> tuple[str, ...]:
        """The verbs it answers, as discovery lists them."""
        if self.key == ("", "namespaces"):
            # NB: kube-apiserver has no deletecollection of namespaces: one
            # request could otherwise empty the cluster.
            return tuple(verb for verb in VERBS if verb != "deletecollection")
        return VERBS

    @property
    def list_kind(self) -> str:
        """The kind of its list: ``PodList``."""
        return f"{self.kind}List"


def _core(plural: str, kind: str, **kwargs: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind, **kwargs)


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _core(
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        has_status=True,
        fields=("status.phase",),
    ),
    _core(
        "pods",
        "Pod",
        namespaced=True,
        short_names=("po",),
        has_status=True,
        fields=tuple(
            name for name in POD_FIELD_SELECTORS if name not in FIELD_SELECTORS_ALWAYS
        ),
        categories=("all",),
    ),
    _core("configmaps", "ConfigMap", namespaced=True, short_names=("cm",)),
    _core("secrets", "Secret", namespaced=True, fields=("type",)),
    _core(
        "services",
        "Service",
        namespaced=True,
        short_names=("svc",),
        has_status=True,
        categories=("all",),
    ),
    _core(
        "events",
        "Event",
        namespaced=True,
        short_names=("ev",),
        fields=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
    ),
    _core(
        "nodes",
        "Node",
        namespaced=False,
        short_names=("no",),
        has_status=True,
        fields=("spec.unschedulable",),
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        namespaced=True,
        short_names=("deploy",),
        has_status=True,
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        namespaced=True,
        short_names=("rs",),
        has_status=True,
        categories=("all",),
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        has_status=True,
    ),
)
"""The resources every simulator serves from the start."""

CRD = BUILTIN_RESOURCES[-1]
NAMESPACES = BUILTIN_RESOURCES[0]

# NB: kubectl and clients list groups in this order; the core group is not
# among /apis, it is served on its own at /api.
_GROUP_ORDER = ("apps", "coordination.k8s.io", "apiextensions.k8s.io")


@dataclass(slots=True)
class ResourceRegistry:
    """ResourceRegistry maps URLs to resource types, growing as CRDs come and go."""

    _by_path: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _custom: dict[str, list[ResourceType]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for resource in BUILTIN_RESOURCES:
            self._add(resource)

    def _add(self, resource: ResourceType) -> None:
        self._by_path[(resource.group, resource.version, resource.plural)] = resource

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Return the resource served at ``/apis/group/version/plural``, if any."""
        return self._by_path.get((group, version, plural))

    def is_custom(self, resource: ResourceType) -> bool:
        """Tell whether the resource is served because of a CRD."""
        return any(resource in types for types in self._custom.values())

    def served(self) -> Iterator[ResourceType]:
        """Yield every resource type currently served."""
        yield from self._by_path.values()

    def group_versions(self) -> dict[str, list[str]]:
        """Return each named group's versions, preferred version first."""
        groups: dict[str, list[str]] = {}
        for resource in self._by_path.values():
            if not resource.group:
                continue
            versions = groups.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)

        def rank(group: str) -> tuple[int, str]:
            if group in _GROUP_ORDER:
                return (_GROUP_ORDER.index(group), group)
            return (len(_GROUP_ORDER), group)

        return {group: groups[group] for group in sorted(groups, key=rank)}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Return the resources of one group version, in registration order."""
        return [
            resource
            for resource in self._by_path.values()
            if resource.group == group and resource.version == version
        ]

    def register_crd(self, crd: Mapping[str, Any]) -> list[ResourceType]:
        """Serve the custom resources a CRD defines; return the types added."""
        name = crd["metadata"]["name"]
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        added = []
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            subresources = version.get("subresources") or {}
            added.append(
                ResourceType(
                    group=spec["group"],
                    version=version["name"],
                    plural=names["plural"],
                    kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    short_names=tuple(names.get("shortNames", ())),
                    has_status="status" in subresources,
                    categories=tuple(names.get("categories", ())),
                )
            )

        # Only once every type is built does the registry change, so that a
        # CRD it cannot serve leaves it serving what it served before.
        self.unregister_crd(name)
        for resource in added:
            self._add(resource)
        self._custom[name] = added
        logger.info(
            "The CustomResourceDefinition %s now serves %s.",
            name,
            ", ".join(f"{r.api_version} {r.plural}" for r in added) or "nothing",
        )
        return added

    def unregister_crd(self, name: str) -> list[ResourceType]:
        """Stop serving the custom resources of the CRD ``name``."""
        removed = self._custom.pop(name, [])
        for resource in removed:
            path = (resource.group, resource.version, resource.plural)
            if self._by_path.get(path) == resource:
                del self._by_path[path]
        return removed

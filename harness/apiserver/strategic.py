"""Strategic merge patch: Kubernetes' own PATCH format, merging lists by key.

An ``application/strategic-merge-patch+json`` body merges objects as a JSON
merge patch does, but merges the lists of :data:`STRATEGIC_MERGE_KEYS` item by
item and honours the ``$patch``, ``$retainKeys``, ``$setElementOrder`` and
``$deleteFromPrimitiveList`` directives. It fails with the same
:class:`~harness.apiserver.patch.PatchError` as the other formats.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from types import MappingProxyType
from typing import Any

from harness.apiserver.json_values import (
    copy_json,
    json_identity,
    json_type,
    show_json,
)
from harness.apiserver.patch import PatchError

logger = logging.getLogger(__name__)

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

STRATEGIC_MERGE_KEYS: Mapping[tuple[str, ...], str] = MappingProxyType(
    {
        # Pod spec, wherever it is embedded (pod templates, job templates).
        **{(kind,): "name" for kind in _CONTAINER_LISTS},
        **{(kind, "ports"): "containerPort" for kind in _CONTAINER_LISTS},
        **{(kind, "env"): "name" for kind in _CONTAINER_LISTS},
        **{(kind, "volumeMounts"): "mountPath" for kind in _CONTAINER_LISTS},
        **{(kind, "volumeDevices"): "devicePath" for kind in _CONTAINER_LISTS},
        ("volumes",): "name",
        ("imagePullSecrets",): "name",
        ("hostAliases",): "ip",
        ("topologySpreadConstraints",): "topologyKey",
        ("schedulingGates",): "name",
        ("resourceClaims",): "name",
        # Object metadata: finalizers merge as a set of strings.
        ("metadata", "finalizers"): "",
        ("metadata", "ownerReferences"): "uid",
        # Status of pods, nodes, workloads.
        ("status", "conditions"): "type",
        ("status", "addresses"): "type",
        ("status", "podIPs"): "ip",
        ("status", "hostIPs"): "ip",
        # Services, nodes and service accounts.
        ("spec", "ports"): "port",
        ("spec", "podCIDRs"): "",
        ("secrets",): "name",
    }
)
"""How strategic merge patch merges a list, by the tail of the field path.

A path is the field names from the object's root, list items left out:
``("spec", "template", "spec", "containers", "env")`` ends with
``("containers", "env")`` and so merges by ``name``. The value is the merge
key of a list of objects, or ``""`` for a list of scalars merged as a set.
The longest matching tail wins. Any other list (tolerations, args, ...) is
replaced whole, as apimachinery does for lists with no patch strategy.
"""

_MERGE_RULES_BY_FIELD: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = (
    MappingProxyType(
        {
            last: tuple(
                sorted(
                    (
                        (tail, key)
                        for tail, key in STRATEGIC_MERGE_KEYS.items()
                        if tail[-1] == last
                    ),
                    key=lambda rule: -len(rule[0]),
                )
            )
            for last in {tail[-1] for tail in STRATEGIC_MERGE_KEYS}
        }
    )
)


def _merge_key(path: tuple[str, ...]) -> str | None:
    """Return how the list at ``path`` merges: a key, "" for a set, None: replace."""
    for tail, key in _MERGE_RULES_BY_FIELD.get(path[-1], ()):
        if path[-len(tail) :] == tail:
            return key
    return None


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "the object"


def _is_directive(key: str) -> bool:
    return key in (_PATCH, _RETAIN_KEYS) or key.startswith(
        (_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST)
    )


def apply_strategic_merge_patch(
    target: dict[str, Any], patch: object
) -> dict[str, Any]:
    """Apply a strategic merge patch and return the patched copy.

    Objects merge as in a JSON merge patch; lists listed in
    :data:`STRATEGIC_MERGE_KEYS` merge item by item, any other list is
    replaced. The directives are honoured: ``$patch: replace`` and ``$patch:
    delete`` on an object or a list item, ``$retainKeys``,
    ``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>``.

    As in kube-apiserver, items the patch names come first, in the patch's
    order, each server-only item staying after the patch item it followed:
    adding ``{"name": "sidecar"}`` to containers ``[app]`` gives
    ``[sidecar, app]`` unless a ``$setElementOrder`` list says otherwise.
    """
    if not isinstance(patch, dict):
        raise PatchError(
            f"a strategic merge patch must be a JSON object, got {json_type(patch)}: "
            f"{show_json(patch)}",
            code=400,
        )
    return _merge_map(copy_json(target), patch, ())


def _merge_map(
    original: dict[str, Any], patch: Mapping[str, Any], path: tuple[str, ...]
) -> dict[str, Any]:
    """Merge a patch object into ``original``, which this call may change."""
    # First the directive that replaces or clears the whole object.
    if _PATCH in patch:
        directive = patch[_PATCH]
        if directive == "delete":
            return {}
        if directive == "replace":
            rest = {key: value for key, value in patch.items() if key != _PATCH}
            return _merge_map({}, rest, path)
        raise PatchError(
            f"unknown $patch directive {show_json(directive)} in {_where(path)}; "
            'expected "replace" or "delete"'
        )

    # Then the directives that prepare the object: drop unlisted fields,
    # merge and order the lists that carry an explicit order.
    if _RETAIN_KEYS in patch:
        _retain_keys(original, patch, path)
    ordered = _merge_ordered_lists(original, patch, path)

    # Then every field, and last the deletions from lists of scalars.
    for key, change in patch.items():
        if key in ordered or _is_directive(key):
            continue
        current = original.get(key)
        if change is None:
            original.pop(key, None)
        elif isinstance(change, dict):
            base = current if isinstance(current, dict) else {}
            original[key] = _merge_map(base, change, (*path, key))
        elif isinstance(change, list):
            original[key] = _merge_list_field(current, change, (*path, key))
        else:
            original[key] = change
    for key, change in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_list(original, key, change)
    return original


def _merge_list_field(current: Any, change: list[Any], path: tuple[str, ...]) -> Any:
    merge_key = _merge_key(path)
    if merge_key is None:
        return copy_json(change)
    base = current if isinstance(current, list) else []
    return _merge_list(base, change, path, merge_key)


def _retain_keys(
    original: dict[str, Any], patch: Mapping[str, Any], path: tuple[str, ...]
) -> None:
    retained = patch[_RETAIN_KEYS]
    if not isinstance(retained, list):
        raise PatchError(
            f"invalid patch format of retainKeys in {_where(path)}: expected a list "
            f"of field names, got {show_json(retained)}",
            code=400,
        )

    # NB: a patch may only set fields it also retains, or the result would
    # depend on the order the two are applied in.
    for key, change in patch.items():
        if change is not None and not _is_directive(key) and key not in retained:
            raise PatchError(
                f"invalid patch format of retainKeys in {_where(path)}: the patch "
                f"sets {key!r}, which $retainKeys {show_json(retained)} does not list",
                code=400,
            )
    for key in [key for key in original if key not in retained]:
        del original[key]


def _merge_ordered_lists(
    original: dict[str, Any], patch: Mapping[str, Any], path: tuple[str, ...]
) -> set[str]:
    """Apply each ``$setElementOrder/<field>``; return the fields merged here."""
    merged_here: set[str] = set()
    for directive, order in patch.items():
        if not directive.startswith(_SET_ELEMENT_ORDER):
            continue
        field = directive.removeprefix(_SET_ELEMENT_ORDER)
        if not field or not isinstance(order, list):
            raise PatchError(
                f"invalid patch format of setElementOrder list: {directive!r} in "
                f"{_where(path)} must name a list field and hold a list, got "
                f"{show_json(order)}",
                code=400,
            )
        field_path = (*path, field)
        merge_key = _merge_key(field_path)
        if merge_key is None:
            logger.debug(
                "Ignoring %s in a strategic merge patch: %s is replaced whole, "
                "so its order is the patch's own.",
                directive,
                _where(field_path),
            )
            continue

        current, change = original.get(field), patch.get(field)
        if not isinstance(current, list) and not isinstance(change, list):
            continue
        server_order = current if isinstance(current, list) else []
        merged = server_order
        if isinstance(change, list):
            _check_order(change, order, merge_key, field_path)
            merged = _merge_list(list(server_order), change, field_path, merge_key)
            merged_here.add(field)
        original[field] = _reorder(merged, order, server_order, merge_key)
    return merged_here


def _item_identity(item: Any, merge_key: str) -> Hashable:
    """Return what identifies a list item: its merge key's value, or itself."""
    if not merge_key:
        return json_identity(item)
    if isinstance(item, dict) and merge_key in item:
        return json_identity(item[merge_key])
    return None


def _check_order(
    change: list[Any], order: list[Any], merge_key: str, path: tuple[str, ...]
) -> None:
    # NB: the patch list must list its items in the order $setElementOrder
    # gives them, or the two would say different things about the result.
    named = [
        _item_identity(item, merge_key)
        for item in change
        if not (isinstance(item, dict) and _PATCH in item)
    ]
    matched = 0
    for entry in order:
        if matched < len(named) and named[matched] == _item_identity(entry, merge_key):
            matched += 1
    if matched < len(named):
        raise PatchError(
            f"the items of {_where(path)} in the patch, {show_json(change)}, are not "
            f"in the order its $setElementOrder list gives, {show_json(order)}"
        )


def _merge_list(
    original: list[Any], change: list[Any], path: tuple[str, ...], merge_key: str
) -> list[Any]:
    """Merge a patch list into ``original``, which this call may change."""
    if not merge_key:
        return _merge_scalar_list(original, change, path)

    # First the special items: deletions, and a request to replace the list.
    replace = False
    plain: list[dict[str, Any]] = []
    for item in change:
        if not isinstance(item, dict):
            raise PatchError(
                f"{_where(path)} is a list of objects merged by {merge_key!r}, but "
                f"the patch holds a {json_type(item)}: {show_json(item)}"
            )
        if _PATCH not in item:
            plain.append(item)
        elif item[_PATCH] == "replace":
            replace = True
        elif item[_PATCH] == "delete":
            doomed = _required_identity(item, merge_key, path)
            original = [i for i in original if _item_identity(i, merge_key) != doomed]
        else:
            raise PatchError(
                f"unknown $patch directive {show_json(item[_PATCH])} in an item of "
                f'{_where(path)}; expected "replace" or "delete"'
            )
    if replace:
        return [_merge_map({}, item, path) for item in plain]

    # Then merge each item into the one with the same key, or add it.
    server_order = list(original)
    merged = list(original)
    for item in plain:
        wanted = _required_identity(item, merge_key, path)
        for position, existing in enumerate(merged):
            if _item_identity(existing, merge_key) == wanted:
                merged[position] = _merge_map(existing, item, path)
                break
        else:
            merged.append(_merge_map({}, item, path))
    return _reorder(merged, plain, server_order, merge_key)


def _required_identity(
    item: Mapping[str, Any], merge_key: str, path: tuple[str, ...]
) -> Hashable:
    if merge_key not in item:
        raise PatchError(
            f"an item of {_where(path)} in the patch has no {merge_key!r}, the key "
            f"its items are merged by: {show_json(item)}"
        )
    return json_identity(item[merge_key])


def _merge_scalar_list(
    original: list[Any], change: list[Any], path: tuple[str, ...]
) -> list[Any]:
    for item in (*original, *change):
        if isinstance(item, dict | list):
            raise PatchError(
                f"{_where(path)} is a list of scalars merged as a set, but it holds "
                f"a {json_type(item)}: {show_json(item)}"
            )
    seen: set[Hashable] = set()
    merged = []
    for item in (*original, *change):
        if json_identity(item) not in seen:
            seen.add(json_identity(item))
            merged.append(item)
    return _reorder(merged, change, original, "")


def _reorder(
    items: list[Any], order: list[Any], server_order: list[Any], merge_key: str
) -> list[Any]:
    """Put the items ``order`` names first, in its order, among the server's.

    This is apimachinery's rule: the named items keep the order given; every
    other item keeps its place relative to the named items that were already
    there, and goes before it only if it came first on the server.
    """
    rank: dict[Hashable, int] = {}
    for position, entry in enumerate(order):
        rank.setdefault(_item_identity(entry, merge_key), position)
    served: dict[Hashable, int] = {}
    for position, entry in enumerate(server_order):
        served.setdefault(_item_identity(entry, merge_key), position)

    named = [item for item in items if _item_identity(item, merge_key) in rank]
    named.sort(key=lambda item: rank[_item_identity(item, merge_key)])
    others = [item for item in items if _item_identity(item, merge_key) not in rank]

    # Finally interleave: a server-only item goes first only if it came
    # before the next named item on the server.
    result: list[Any] = []
    n = o = 0
    while n < len(named) and o < len(others):
        other_at = served.get(_item_identity(others[o], merge_key))
        named_at = served.get(_item_identity(named[n], merge_key))
        if other_at is not None and named_at is not None and other_at < named_at:
            result.append(others[o])
            o += 1
        else:
            result.append(named[n])
            n += 1
    return result + named[n:] + others[o:]


def _delete_from_list(original: dict[str, Any], directive: str, doomed: Any) -> None:
    field = directive.removeprefix(_DELETE_FROM_PRIMITIVE_LIST)
    if not field or not isinstance(doomed, list):
        raise PatchError(
            f"invalid patch format of primitive list: {directive!r} must name a list "
            f"field and hold the values to delete from it, got {show_json(doomed)}",
            code=400,
        )

    # NB: deleting from a list the object does not have must not create it.
    current = original.get(field)
    if isinstance(current, list):
        gone = {json_identity(value) for value in doomed}
        original[field] = [item for item in current if json_identity(item) not in gone]

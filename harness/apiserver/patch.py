"""PATCH bodies in the JSON formats, merge and JSON patch, and PatchError.

kube-apiserver accepts three patch formats on every built-in resource (server-
side apply aside), chosen by the request's Content-Type:

- ``application/merge-patch+json``, RFC 7386: :func:`apply_merge_patch`;
- ``application/json-patch+json``, RFC 6902: :func:`apply_json_patch`;
- ``application/strategic-merge-patch+json``, Kubernetes' own format, which
  merges lists of objects by a key known for each field: in
  :mod:`harness.apiserver.strategic`.

Each function takes decoded JSON, returns a new object and leaves its inputs
untouched, so a failed patch changes nothing. A patch that cannot be applied
raises :class:`PatchError`, whose ``code`` is the HTTP status kube-apiserver
answers with: 400 for a body of the wrong shape, 422 for a patch that does not
apply to this object (a JSON patch that copies more than 3 MiB or nests the
object too deep included), 413 for too many JSON patch operations.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import orjson

from harness.apiserver.json_values import (
    copy_json,
    json_depth,
    json_identity,
    json_type,
    show_json,
)
from harness.apiserver.limits import MAX_NESTING

logger = logging.getLogger(__name__)

MAX_JSON_PATCH_OPERATIONS = 10_000
"""The most operations one JSON patch may hold, as in kube-apiserver."""

MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024
"""The most bytes the copy operations of one JSON patch may add, all together.

kube-apiserver caps copies by the same 3 MiB as request bodies: without a cap,
each copy of the whole document into itself doubles it.
"""


class PatchError(ValueError):
    """PatchError is a patch kube-apiserver would refuse; ``code`` is the status.

    422 (Unprocessable Entity) for a patch that does not apply to the object,
    400 (Bad Request) for a body that is not a patch of the declared type, 413
    (Request Entity Too Large) for a JSON patch of too many operations.
    """

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


# --- JSON merge patch (RFC 7386) -----------------------------------------------


def apply_merge_patch(target: dict[str, Any], patch: object) -> dict[str, Any]:
    """Apply a JSON merge patch (RFC 7386) and return the patched copy.

    Members set to null are deleted, objects merge recursively, and anything
    else (lists included) replaces what was there.
    """
    if not isinstance(patch, dict):
        raise PatchError(
            f"a JSON merge patch must be a JSON object, got {json_type(patch)}: "
            f"{show_json(patch)}",
            code=400,
        )
    return _merge(target, patch)


def _merge(target: object, patch: Mapping[str, Any]) -> dict[str, Any]:
    base: Mapping[str, Any] = target if isinstance(target, dict) else {}
    result: dict[str, Any] = {}

    # First the members already there, in their order: kept, replaced or gone.
    for key, value in base.items():
        if key not in patch:
            result[key] = copy_json(value)
            continue
        change = patch[key]
        if isinstance(change, dict):
            result[key] = _merge(value, change)
        elif change is not None:
            result[key] = copy_json(change)

    # Then the new members, with nulls inside new objects dropped as well.
    for key, change in patch.items():
        if key in base or change is None:
            continue
        result[key] = (
            _merge(None, change) if isinstance(change, dict) else copy_json(change)
        )
    return result


# --- JSON patch (RFC 6902) -----------------------------------------------------


_ARRAY_INDEX_RE = re.compile(r"0|[1-9][0-9]*")
_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


class _Step:
    """One operation of a JSON patch, applied to a document it may mutate."""

    def __init__(self, index: int, operation: Mapping[str, Any]) -> None:
        self.index = index
        self.operation = operation
        self.op = operation.get("op")
        raw_path = operation.get("path")
        self.path_text = show_json(raw_path)

    def fail(self, reason: str) -> NoReturn:
        raise PatchError(
            f"JSON patch operation {self.index} ({self.op} at {self.path_text}) "
            f"cannot be applied: {reason}"
        )

    def pointer(self, member: str) -> list[str]:
        """Parse the JSON pointer in ``path`` or ``from`` into reference tokens."""
        text = self.operation.get(member)
        if not isinstance(text, str):
            self.fail(
                f"{member!r} must be a JSON pointer string, got {show_json(text)}"
            )
        if text == "":
            return []
        if not text.startswith("/"):
            self.fail(f"{member!r} {text!r} must be empty or start with '/'")
        if re.search("~[^01]|~$", text):
            self.fail(f"{member!r} {text!r} has a '~' not followed by 0 or 1")
        return [
            part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")
        ]

    def value(self) -> Any:
        if "value" not in self.operation:
            self.fail(f"{self.op!r} needs a 'value' member")
        return copy_json(self.operation["value"])

    def array_index(self, token: str, length: int, *, end_allowed: bool) -> int:
        # NB: "-" names the slot after the last element: only "add" can use it.
        if token == "-" and end_allowed:
            return length
        if not _ARRAY_INDEX_RE.fullmatch(token):
            self.fail(f"{token!r} is not an array index (0, 1, ... or '-' to append)")
        index = int(token)
        limit = length if end_allowed else length - 1
        if index > limit:
            self.fail(f"index {index} is out of range for an array of {length}")
        return index

    def get(self, document: Any, tokens: Sequence[str]) -> Any:
        node = document
        for depth, token in enumerate(tokens):
            if isinstance(node, dict):
                if token not in node:
                    self.fail(f"{_render(tokens[: depth + 1])} does not exist")
                node = node[token]
            elif isinstance(node, list):
                node = node[self.array_index(token, len(node), end_allowed=False)]
            else:
                where = _render(tokens[:depth])
                self.fail(f"{where} is a {json_type(node)}, not an object or array")
        return node

    def add(self, document: Any, tokens: Sequence[str], value: Any) -> Any:
        if not tokens:
            return value
        parent = self.get(document, tokens[:-1])
        if isinstance(parent, dict):
            parent[tokens[-1]] = value
        elif isinstance(parent, list):
            parent.insert(
                self.array_index(tokens[-1], len(parent), end_allowed=True), value
            )
        else:
            self.fail(
                f"{_render(tokens[:-1])} is a {json_type(parent)}, "
                "not an object or array"
            )
        return document

    def remove(self, document: Any, tokens: Sequence[str]) -> Any:
        if not tokens:
            self.fail("the whole document cannot be removed")
        self.get(document, tokens)
        parent = self.get(document, tokens[:-1])
        key = tokens[-1] if isinstance(parent, dict) else int(tokens[-1])
        return parent.pop(key)

    def replace(self, document: Any, tokens: Sequence[str], value: Any) -> Any:
        if not tokens:
            return value
        self.get(document, tokens)
        parent = self.get(document, tokens[:-1])
        key = tokens[-1] if isinstance(parent, dict) else int(tokens[-1])
        parent[key] = value
        return document

    def apply(self, document: Any, growth: _Growth) -> Any:
        """Apply this operation and return the document (a new root if replaced)."""
        path = self.pointer("path")
        if self.op in ("move", "copy"):
            return self.transfer(document, path, growth)
        if self.op in ("add", "replace"):
            value = self.value()
            if self.op == "add":
                document = self.add(document, path, value)
            else:
                document = self.replace(document, path, value)
            growth.wrote(self, document, path, json_depth(value, MAX_NESTING))
            return document
        if self.op == "remove":
            self.remove(document, path)
            return document

        expected = self.value()
        actual = self.get(document, path)
        if json_identity(actual) != json_identity(expected):
            self.fail(f"the value is {show_json(actual)}, not {show_json(expected)}")
        return document

    def transfer(self, document: Any, path: list[str], growth: _Growth) -> Any:
        """Apply a "move" or "copy", which read their value at "from"."""
        source = self.pointer("from")
        if self.op == "copy":
            value = self.get(document, source)
            value_depth = growth.copying(self, value)
            document = self.add(document, path, copy_json(value))
            growth.wrote(self, document, path, value_depth)
            return document

        if len(path) > len(source) and path[: len(source)] == source:
            self.fail(f"a value cannot be moved into itself, from {_render(source)}")
        if path == source:
            self.get(document, source)
            return document
        # NB: what was at "from" nests no deeper than the document allowed
        # below it, so the bound costs no walk of the moved value.
        moved_depth = growth.depth - len(source)
        document = self.add(document, path, self.remove(document, source))
        growth.wrote(self, document, path, moved_depth)
        return document


class _Growth:
    """How far a JSON patch has grown its document: bytes copied, depth reached.

    NB: each ``copy`` can double the document, so a few operations could fill
    the memory before the result is ever checked; kube-apiserver caps the
    bytes all the copies of one patch add, and so does this. The depth is kept
    as an upper bound, from where each value is written and how deep it is,
    so that the whole document is walked only when the bound says it may be
    too deep.
    """

    def __init__(self, document: Any) -> None:
        self.copied = 0
        self.depth = json_depth(document, MAX_NESTING)

    def copying(self, step: _Step, value: Any) -> int:
        """Count a value about to be copied; return how deep it nests."""
        self.copied += len(orjson.dumps(value))
        if self.copied > MAX_JSON_PATCH_COPY_BYTES:
            step.fail(
                f"the values its copy operations add come to {self.copied} bytes, "
                f"more than the {MAX_JSON_PATCH_COPY_BYTES} one JSON patch may copy; "
                "copy smaller values, or fewer"
            )
        return json_depth(value, MAX_NESTING)

    def wrote(
        self, step: _Step, document: Any, path: Sequence[str], value_depth: int
    ) -> None:
        """Account for a value of ``value_depth`` levels written at ``path``."""
        self.depth = max(self.depth, len(path) + value_depth)
        if self.depth <= MAX_NESTING:
            return
        self.depth = json_depth(document, MAX_NESTING)
        if self.depth > MAX_NESTING:
            step.fail(
                f"the patched object would nest objects and arrays more than "
                f"{MAX_NESTING} levels deep, the most the server stores"
            )


def _render(tokens: Sequence[str]) -> str:
    """Render reference tokens back as a JSON pointer, for messages."""
    if not tokens:
        return "the document root"
    return "/" + "/".join(
        token.replace("~", "~0").replace("/", "~1") for token in tokens
    )


def apply_json_patch(target: dict[str, Any], ops: object) -> dict[str, Any]:
    """Apply a JSON patch (RFC 6902) and return the patched copy.

    ``ops`` is the decoded list of ``add``, ``remove``, ``replace``, ``move``,
    ``copy`` and ``test`` operations, applied in order; the first that fails
    (a failed ``test`` included) raises :class:`PatchError` naming its index
    and path, and nothing is applied.
    """
    # First the shape of the body: kube-apiserver refuses it with 400 or 413.
    if not isinstance(ops, list):
        raise PatchError(
            f"a JSON patch must be a JSON array of operations, got {json_type(ops)}: "
            f"{show_json(ops)}",
            code=400,
        )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
            code=413,
        )
    for index, operation in enumerate(ops):
        if not isinstance(operation, dict):
            raise PatchError(
                f"JSON patch operation {index} must be a JSON object such as "
                f'{{"op": "add", "path": "/a", "value": 1}}, '
                f"got {show_json(operation)}",
                code=400,
            )

    # Then each operation, on a copy, so that a failure leaves nothing half-done.
    document: Any = copy_json(target)
    growth = _Growth(document)
    for index, operation in enumerate(ops):
        step = _Step(index, operation)
        if step.op not in _OPERATIONS:
            step.fail(
                f"'op' must be one of {', '.join(_OPERATIONS)}, "
                f"got {show_json(step.op)}"
            )
        document = step.apply(document, growth)

    if not isinstance(document, dict):
        raise PatchError(
            f"the patched document must be a JSON object, got {json_type(document)}: "
            f"{show_json(document)}"
        )
    return document

"""What the server refuses to store: objects nested too deep, or too large.

Every object is kept as the JSON bytes clients receive, so an object the
server could decode but not serialize again would fail every later read of it.
The limits are checked where they can be checked cheaply and early: a request
body as soon as it is decoded, and every object once more as it is serialized
for the store, before anything (the revision, the registry of served
resources) has changed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from harness.apiserver import status as errors
from harness.apiserver.json_values import json_depth
from harness.apiserver.resources import ResourceType

logger = logging.getLogger(__name__)

MAX_OBJECT_BYTES = 3 * 1024 * 1024
"""The largest request body, and the largest object stored, in bytes of JSON.

kube-apiserver refuses request bodies over 3 MiB; an object that grows past
that through patches is refused as well, as etcd would refuse to store it.
"""

MAX_NESTING = 128
"""How many levels of objects and arrays a body or stored object may nest.

Real objects, a CRD's schema included, nest a few dozen levels. orjson writes
at most 254, and a Table row wraps an object in three more, so 128 leaves room
for both while refusing bodies built only to be deep.
"""


def check_nesting(value: Any, what: str) -> None:
    """Raise the 400 for a decoded request body that nests too deep to store."""
    if json_depth(value, MAX_NESTING) <= MAX_NESTING:
        return
    depth = json_depth(value, sys.maxsize)
    raise errors.bad_request(
        f"the {what} nests objects and arrays {depth} levels deep; the server "
        f"accepts at most {MAX_NESTING}: send a flatter object"
    )


def encode_object(resource: ResourceType, name: str, obj: Any) -> bytes:
    """Return the JSON bytes of an object to store, or raise the 422 or 413."""
    try:
        raw = orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:
        # NB: what reaches the store was decoded from JSON, so the only thing
        # orjson can refuse is a nesting deeper than it writes.
        raise errors.ApiError(
            422,
            "Invalid",
            f'{resource.kind} "{name}" is invalid: it cannot be stored as JSON '
            f"({exc}); objects may nest at most {MAX_NESTING} levels of objects "
            "and arrays",
            name=name,
            group=resource.group,
            kind=resource.kind,
        ) from exc

    if len(raw) > MAX_OBJECT_BYTES:
        raise errors.ApiError(
            413,
            "RequestEntityTooLarge",
            f'{resource.kind} "{name}" would be {len(raw)} bytes of JSON, more '
            f"than the {MAX_OBJECT_BYTES} an object may be: keep large data out "
            "of objects, or split it across several",
            name=name,
            group=resource.group,
            kind=resource.kind,
        )
    return raw

"""Decoded JSON values: copies, type names, equality as JSON means it, and depth.

The patch formats (:mod:`harness.apiserver.patch` and
:mod:`harness.apiserver.strategic`) and the limits on stored objects work on
what ``orjson.loads`` returns: dicts, lists, strings, numbers, booleans and
None. These helpers treat those values as JSON does, not as Python does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable
from typing import Any

logger = logging.getLogger(__name__)

MAX_SHOWN_VALUE_CHARS = 120
"""How much of a JSON value an error message shows before cutting it short."""


def copy_json(value: Any) -> Any:
    """Deep-copy decoded JSON, faster than copy.deepcopy and with no memo left over."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def json_type(value: Any) -> str:
    """Name a value's JSON type, for messages: ``object``, ``string``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def show_json(value: Any) -> str:
    """Render a JSON value for a message, cut to MAX_SHOWN_VALUE_CHARS."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    if len(text) > MAX_SHOWN_VALUE_CHARS:
        return text[: MAX_SHOWN_VALUE_CHARS - 3] + "..."
    return text


def json_identity(value: Any) -> Hashable:
    """Return a hashable stand-in equal exactly when the JSON values are equal.

    Unlike Python's ``==``, ``true`` is not ``1``; ``1`` and ``1.0`` are the
    same JSON number.
    """
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    return ("json", json.dumps(_canonical(value), sort_keys=True, default=str))


def _canonical(value: Any) -> Any:
    """Rewrite whole floats as ints, so that JSON-equal containers dump alike."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_depth(value: Any, limit: int) -> int:
    """Return how deep containers nest in ``value``, counting up to ``limit + 1``.

    A scalar is 0 deep, ``{}`` and ``[]`` are 1, ``{"a": [1]}`` is 2. The walk
    goes level by level without recursion, so any depth orjson can decode is
    measured safely; it stops at ``limit + 1`` since nothing deeper matters.
    """
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level and depth <= limit:
        depth += 1
        nested: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            nested.extend(c for c in children if isinstance(c, dict | list))
        level = nested
    return depth

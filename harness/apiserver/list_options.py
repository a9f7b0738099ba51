"""The query parameters of LIST and WATCH: selectors, resourceVersion, limits.

:func:`parse_list_options` reads them once, refusing what kube-apiserver
refuses with its 400 and wording, so the verbs that use them (LIST, WATCH,
DELETECOLLECTION) work from checked values only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.apiserver import status as errors
from harness.apiserver.fields import FieldSelector, parse_field_selector
from harness.apiserver.resources import ResourceType
from harness.apiserver.selectors import (
    LabelSelector,
    SelectorError,
    parse_label_selector,
)

logger = logging.getLogger(__name__)

TRUE_VALUES = frozenset(("1", "t", "T", "true", "TRUE", "True"))
"""Query values read as true, as Go's strconv.ParseBool reads them."""

FALSE_VALUES = frozenset(("0", "f", "F", "false", "FALSE", "False"))
"""Query values read as false."""

_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
"""A whole number in a query: ASCII digits, few enough for an int64."""


@dataclass(frozen=True, slots=True)
class ListOptions:
    """ListOptions are the query parameters of a LIST or WATCH, parsed and checked."""

    label_text: str
    field_text: str
    label_selector: LabelSelector | None
    field_selector: FieldSelector | None
    resource_version: int | None
    resource_version_text: str
    resource_version_match: str
    limit: int | None
    continue_token: str
    timeout_seconds: float | None
    allow_bookmarks: bool
    send_initial_events: bool | None


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise errors.bad_request(f"{name}: expected true or false, got {value!r}")


def whole_number(text: str) -> int | None:
    """Return the number a query value spells in ASCII digits, None if it is not.

    NB: int() also reads "1_000", " 7" and digits of other scripts, and
    str.isdigit() is true of "²", which int() cannot read: neither is how Go
    reads a number, so the digits are matched first.
    """
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else None


def _number(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    number = whole_number(value)
    if number is None:
        raise errors.bad_request(
            f"{name}: expected a non-negative integer, got {value!r}"
        )
    return number


def parse_list_options(
    query: Mapping[str, str], resource: ResourceType, name: str | None
) -> ListOptions:
    """Parse and check the LIST / WATCH parameters, raising a 400 Status."""
    label_text = query.get("labelSelector", "")
    field_text = query.get("fieldSelector", "")
    if name is not None:
        # NB: a watch on a single object (/watch/.../pods/NAME) is a watch on the
        # collection narrowed to that name, which is how kube-apiserver serves it.
        by_name = f"metadata.name={name}"
        field_text = f"{field_text},{by_name}" if field_text else by_name
    try:
        labels = parse_label_selector(label_text) if label_text else None
        fields = (
            parse_field_selector(field_text, supported=resource.supported_fields)
            if field_text
            else None
        )
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from exc

    rv_text = query.get("resourceVersion", "")
    rv = whole_number(rv_text) if rv_text else None
    if rv_text and rv is None:
        raise errors.bad_request(
            f"invalid resource version {rv_text!r}: expected the resourceVersion "
            'of an earlier response, such as "12345", or "0"'
        )
    match = query.get("resourceVersionMatch", "")
    if match and match not in ("NotOlderThan", "Exact"):
        raise errors.bad_request(
            f"resourceVersionMatch: Unsupported value: {match!r}: supported values: "
            '"Exact", "NotOlderThan"'
        )
    if match and not rv_text and match == "Exact":
        raise errors.bad_request(
            'resourceVersionMatch: Forbidden: resourceVersionMatch "Exact" is '
            "forbidden unless resourceVersion is provided"
        )

    timeout = _number(query, "timeoutSeconds")
    return ListOptions(
        label_text=label_text,
        field_text=field_text,
        label_selector=labels,
        field_selector=fields,
        resource_version=rv,
        resource_version_text=rv_text,
        resource_version_match=match,
        limit=_number(query, "limit"),
        continue_token=query.get("continue", ""),
        timeout_seconds=float(timeout) if timeout is not None else None,
        allow_bookmarks=bool(_flag(query, "allowWatchBookmarks")),
        send_initial_events=_flag(query, "sendInitialEvents"),
    )

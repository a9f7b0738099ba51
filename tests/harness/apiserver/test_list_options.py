"""LIST and WATCH query parameters, read as kube-apiserver reads them."""

from __future__ import annotations

import pytest

from harness.apiserver.list_options import parse_list_options
from harness.apiserver.resources import BUILTIN_RESOURCES
from harness.apiserver.status import ApiError

PODS = next(r for r in BUILTIN_RESOURCES if r.plural == "pods")


@pytest.mark.parametrize(("text", "allowed"), [("T", True), ("0", False)])
def test_booleans_read_as_go_reads_them(text: str, allowed: bool) -> None:
    options = parse_list_options({"allowWatchBookmarks": text}, PODS, None)

    assert options.allow_bookmarks is allowed


def test_a_watch_on_one_object_narrows_the_field_selector_to_its_name() -> None:
    options = parse_list_options({"fieldSelector": "spec.nodeName=n"}, PODS, "p")

    assert options.field_text == "spec.nodeName=n,metadata.name=p"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"resourceVersionMatch": "Exact"}, 'resourceVersionMatch "Exact" is'),
        ({"timeoutSeconds": "-1"}, "timeoutSeconds: expected a non-negative"),
        ({"limit": "1_000"}, "limit: expected a non-negative integer, got '1_000'"),
        ({"resourceVersion": "\u0663"}, "invalid resource version '\u0663'"),
        ({"sendInitialEvents": "yes"}, "sendInitialEvents: expected true or false"),
    ],
)
def test_parameters_kube_refuses_are_400(query: dict[str, str], says: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_list_options(query, PODS, None)

    assert caught.value.code == 400
    assert says in caught.value.message

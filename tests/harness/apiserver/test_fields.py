"""Field selectors parse, match and fail as kube-apiserver's do."""

from __future__ import annotations

from typing import Any

import pytest

from harness.apiserver.fields import (
    FIELD_SELECTORS_ALWAYS,
    POD_FIELD_SELECTORS,
    FieldSelector,
    field_value,
    field_values,
    parse_field_selector,
)
from harness.apiserver.selectors import SelectorError


def _pod(name: str, namespace: str = "default", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": "node-1", "restartPolicy": "Always"},
        "status": status,
    }


RUNNING = _pod("api", phase="Running", podIP="10.0.0.7")
PENDING = _pod("worker", namespace="jobs", phase="Pending")
NO_STATUS: dict[str, Any] = {"metadata": {"name": "bare", "namespace": "default"}}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("", [RUNNING, PENDING, NO_STATUS]),
        ("metadata.name=api", [RUNNING]),
        ("metadata.name==api", [RUNNING]),
        ("metadata.name!=api", [PENDING, NO_STATUS]),
        ("metadata.namespace=default", [RUNNING, NO_STATUS]),
        ("status.phase=Running,metadata.namespace=default", [RUNNING]),
        ("status.phase!=Running,status.phase!=Pending", [NO_STATUS]),
        ("status.phase=", [NO_STATUS]),
        ("spec.nodeName=node-1", [RUNNING, PENDING]),
        ("status.podIP=10.0.0.7", [RUNNING]),
    ],
)
def test_a_field_selector_selects_pods_by_their_fields(
    text: str, selected: list[dict[str, Any]]
) -> None:
    selector = parse_field_selector(text, supported=POD_FIELD_SELECTORS)

    chosen = [pod for pod in (RUNNING, PENDING, NO_STATUS) if selector.matches(pod)]

    assert chosen == selected


def test_a_field_not_supported_by_the_resource_is_refused_by_name() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector("spec.foo=bar", supported=POD_FIELD_SELECTORS)

    assert str(caught.value) == "field label not supported: spec.foo"


def test_a_resource_with_only_the_metadata_fields_lists_them_when_refusing() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector("status.phase=Running", supported=FIELD_SELECTORS_ALWAYS)

    assert str(caught.value) == (
        '"status.phase" is not a known field selector: only "metadata.name", '
        '"metadata.namespace"'
    )


def test_whitespace_in_a_field_selector_is_part_of_the_field_name() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector("metadata.name =api", supported=POD_FIELD_SELECTORS)

    assert str(caught.value) == "field label not supported: metadata.name "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "metadata.name",
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
        ),
        ("a=b,junk", "invalid selector: 'a=b,junk'; can't understand 'junk'"),
        (
            "metadata.name=a=b",
            "invalid field selector: unescaped character in value: =",
        ),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_malformed_field_selectors_are_refused_in_kube_apiservers_words(
    text: str, message: str
) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text, supported=("a", *FIELD_SELECTORS_ALWAYS))

    assert str(caught.value) == message


def test_escaped_commas_equals_and_backslashes_are_part_of_the_value() -> None:
    selector = parse_field_selector(
        "metadata.name=a\\,b\\=c\\\\d", supported=FIELD_SELECTORS_ALWAYS
    )

    assert selector.exact_value("metadata.name") == "a,b=c\\d"
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(selector) == "metadata.name=a\\,b\\=c\\\\d"


def test_a_field_selector_renders_sorted_and_parses_back_the_same() -> None:
    selector = parse_field_selector(
        "status.phase!=Failed,metadata.name==web", supported=POD_FIELD_SELECTORS
    )

    assert str(selector) == "metadata.name=web,status.phase!=Failed"
    assert (
        parse_field_selector(str(selector), supported=POD_FIELD_SELECTORS) == selector
    )


def test_empty_terms_in_a_field_selector_are_skipped() -> None:
    selector = parse_field_selector(
        ",metadata.name=a,,", supported=FIELD_SELECTORS_ALWAYS
    )

    assert str(selector) == "metadata.name=a"
    assert not selector.empty


def test_an_empty_field_selector_is_empty_and_selects_everything() -> None:
    selector = parse_field_selector("", supported=())

    assert selector.empty
    assert selector == FieldSelector()
    assert selector.matches({})


def test_field_values_read_scalars_as_text_and_everything_else_as_empty() -> None:
    obj = {"spec": {"flag": True, "count": 3, "list": [1], "map": {}, "none": None}}

    assert field_value(obj, "spec.flag") == "true"
    assert field_value(obj, "spec.count") == "3"
    assert field_value(obj, "spec.list") == ""
    assert field_value(obj, "spec.map") == ""
    assert field_value(obj, "spec.none") == ""
    assert field_value(obj, "spec.flag.deeper") == ""
    assert field_value(obj, "status.phase") == ""


def test_a_selector_matches_flattened_values_as_it_matches_the_object() -> None:
    selector = parse_field_selector(
        "status.phase=Running,metadata.name!=db", supported=POD_FIELD_SELECTORS
    )

    for pod in (RUNNING, PENDING, NO_STATUS):
        flat = field_values(pod, selector.fields)
        assert selector.matches_values(flat) == selector.matches(pod)
    assert selector.fields == {"status.phase", "metadata.name"}


def test_exact_value_ignores_negated_field_terms() -> None:
    selector = parse_field_selector(
        "metadata.namespace!=kube-system", supported=FIELD_SELECTORS_ALWAYS
    )

    assert selector.exact_value("metadata.namespace") is None

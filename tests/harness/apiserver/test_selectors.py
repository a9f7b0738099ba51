"""Label selectors parse, match and fail as kube-apiserver's do."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import V1ConfigMap, V1ObjectMeta

from harness.apiserver.selectors import (
    LabelSelector,
    Operator,
    SelectorError,
    parse_label_selector,
    selector_from_label_dict,
)

WEB_PROD = {"app": "web", "tier": "frontend", "env": "prod"}
DB_DEV = {"app": "db", "env": "dev"}
UNLABELLED: dict[str, str] = {}

# --- label selectors: what they select -------------------------------------------


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("", [WEB_PROD, DB_DEV, UNLABELLED]),
        ("app=web", [WEB_PROD]),
        ("app==web", [WEB_PROD]),
        ("app!=web", [DB_DEV, UNLABELLED]),
        ("app in (web,db)", [WEB_PROD, DB_DEV]),
        ("app notin (web)", [DB_DEV, UNLABELLED]),
        ("tier", [WEB_PROD]),
        ("!tier", [DB_DEV, UNLABELLED]),
        ("app,env=dev", [DB_DEV]),
        ("app in (web,db),!tier", [DB_DEV]),
        ("env in (prod),tier notin (backend)", [WEB_PROD]),
        ("app=nothing", []),
    ],
)
def test_a_label_selector_selects_exactly_the_objects_its_requirements_allow(
    text: str, selected: list[dict[str, str]]
) -> None:
    selector = parse_label_selector(text)

    chosen = [
        labels for labels in (WEB_PROD, DB_DEV, UNLABELLED) if selector.matches(labels)
    ]

    assert chosen == selected


def test_an_empty_label_selector_is_empty_and_selects_objects_without_labels() -> None:
    selector = parse_label_selector("")

    assert selector.empty
    assert selector.matches(None)
    assert str(selector) == ""


def test_a_label_selector_with_a_requirement_is_not_empty() -> None:
    assert not parse_label_selector("a").empty


def test_an_object_without_labels_satisfies_only_negative_requirements() -> None:
    assert parse_label_selector("app!=web,!tier,env notin (prod)").matches(None)
    assert not parse_label_selector("app").matches(None)
    assert not parse_label_selector("app in (web)").matches(None)


@pytest.mark.parametrize(
    "text",
    ["  app = web ,  tier  ", "app=web,tier", "\tapp\n=\rweb,tier", "tier,app==web"],
)
def test_whitespace_around_tokens_does_not_change_what_is_selected(text: str) -> None:
    selector = parse_label_selector(text)

    assert selector.matches(WEB_PROD)
    assert not selector.matches(DB_DEV)


def test_an_empty_value_after_equals_selects_labels_set_to_the_empty_string() -> None:
    selector = parse_label_selector("app=")

    assert selector.matches({"app": ""})
    assert not selector.matches({"app": "web"})
    assert not selector.matches({})


@pytest.mark.parametrize("text", ["a in ()", "a in (,)", "a in (x,,y)", "a in (,x)"])
def test_empty_entries_in_a_value_set_stand_for_the_empty_value(text: str) -> None:
    assert parse_label_selector(text).matches({"a": ""})


def test_in_and_notin_are_ordinary_words_where_a_key_or_value_is_expected() -> None:
    selector = parse_label_selector("in in (in,notin),notin")

    assert selector.matches({"in": "notin", "notin": "x"})
    assert not selector.matches({"in": "x", "notin": "x"})


@pytest.mark.parametrize(
    ("text", "value", "selected"),
    [
        ("replicas>2", "3", True),
        ("replicas>2", "2", False),
        ("replicas<2", "1", True),
        ("replicas<2", "-1", True),
        ("replicas>2", "three", False),
        ("replicas<2", "three", False),
    ],
)
def test_greater_and_less_than_compare_label_values_as_integers(
    text: str, value: str, selected: bool
) -> None:
    assert parse_label_selector(text).matches({"replicas": value}) is selected


def test_greater_than_never_selects_an_object_without_the_label() -> None:
    assert not parse_label_selector("replicas>2").matches({})


def test_prefixed_label_keys_are_accepted_and_matched_whole() -> None:
    selector = parse_label_selector("app.kubernetes.io/name=web")

    assert selector.matches({"app.kubernetes.io/name": "web"})
    assert not selector.matches({"name": "web"})


# --- label selectors: canonical form -------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("b=1,a=2", "a=2,b=1"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        (" !a , b==c , c!=d ", "!a,b==c,c!=d"),
        ("a in (y,x,y)", "a in (x,y)"),
        ("n>5,m<7", "m<7,n>5"),
    ],
)
def test_a_label_selector_renders_sorted_by_key_with_sorted_unique_values(
    text: str, canonical: str
) -> None:
    assert str(parse_label_selector(text)) == canonical


def test_the_canonical_form_parses_back_to_the_same_selector() -> None:
    selector = parse_label_selector("z notin (b,a), !y, x==1, w in (), v")

    assert parse_label_selector(str(selector)) == selector


def test_requirements_keep_their_operator_and_sorted_values() -> None:
    (requirement,) = parse_label_selector("a notin (c,b)").requirements

    assert requirement.key == "a"
    assert requirement.operator is Operator.NOT_IN
    assert requirement.values == ("b", "c")


def test_exact_value_reports_the_single_value_a_selector_pins() -> None:
    selector = parse_label_selector("app=web,env in (prod),tier in (a,b),x!=y")

    assert selector.exact_value("app") == "web"
    assert selector.exact_value("env") == "prod"
    assert selector.exact_value("tier") is None
    assert selector.exact_value("x") is None
    assert selector.exact_value("missing") is None


# --- label selectors: what is refused, and how it is said ----------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a b",
            "unable to parse requirement: found 'b', expected: "
            "in, notin, =, ==, !=, gt, lt",
        ),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        (
            "a in (",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
        ),
        (
            "a in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        ),
        (
            "a in (x,=)",
            "unable to parse requirement: found '=', expected: ',', or identifier",
        ),
        ("a=!b", "unable to parse requirement: found '!', expected: identifier"),
        ("! =a", "unable to parse requirement: found '=', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ],
)
def test_malformed_label_selectors_are_refused_in_kube_apiservers_words(
    text: str, message: str
) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)

    assert str(caught.value) == message


def test_a_malformed_key_is_refused_with_the_key_and_the_rule_it_breaks() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector("app@home=web")

    assert str(caught.value) == (
        'unable to parse requirement: <nil>: Invalid value: "app@home": name part '
        "must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


def test_a_malformed_value_is_refused_naming_its_index_and_key() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector("app in (web,-db)")

    message = str(caught.value)
    assert message.startswith(
        'unable to parse requirement: values[0][app]: Invalid value: "-db": '
        "a valid label must be an empty string or consist of alphanumeric characters"
    )
    assert (
        "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'"
        in message
    )


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a" * 64, "name part must be no more than 63 characters"),
        ("/name", "prefix part must be non-empty"),
        ("Example.com/name", "prefix part a lowercase RFC 1123 subdomain"),
        ("x" * 254 + "/name", "prefix part must be no more than 253 characters"),
        ("example.com/", "name part must be non-empty"),
        ("a/b/c", "a qualified name must consist of"),
        ("-app", "name part must consist of"),
    ],
)
def test_label_keys_must_be_qualified_names(key: str, problem: str) -> None:
    with pytest.raises(SelectorError, match="unable to parse requirement") as caught:
        parse_label_selector(key)

    assert problem in str(caught.value)


def test_label_keys_at_the_length_limits_are_accepted() -> None:
    key = "a" * 253 + "/" + "b" * 63

    assert parse_label_selector(f"{key}=v").matches({key: "v"})


def test_a_label_value_longer_than_63_characters_is_refused() -> None:
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        parse_label_selector("a=" + "v" * 64)


def test_a_non_integer_bound_for_greater_than_is_refused() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector("a>b")

    assert str(caught.value) == (
        'unable to parse requirement: values[0]: Invalid value: "b": '
        "for 'Gt', 'Lt' operators, the value must be an integer"
    )


def test_a_value_breaking_two_rules_reports_both_in_one_list() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector("a>" + "9" * 64)

    message = str(caught.value)
    assert message.startswith("unable to parse requirement: [values[0]: Invalid value")
    assert "must be an integer" in message
    assert "must be no more than 63 characters" in message


def test_the_error_is_a_value_error_so_callers_can_catch_it_broadly() -> None:
    with pytest.raises(ValueError, match="unable to parse requirement"):
        parse_label_selector("a b")


# --- label selectors from matchLabels --------------------------------------------


def test_a_selector_from_match_labels_requires_every_label() -> None:
    selector = selector_from_label_dict({"tier": "frontend", "app": "web"})

    assert str(selector) == "app=web,tier=frontend"
    assert selector.matches(WEB_PROD)
    assert not selector.matches({"app": "web"})


def test_a_selector_from_no_match_labels_selects_everything() -> None:
    selector = selector_from_label_dict({})

    assert selector.empty
    assert selector == LabelSelector()
    assert selector.matches(DB_DEV)


def test_a_selector_from_match_labels_refuses_an_invalid_key() -> None:
    with pytest.raises(SelectorError, match='Invalid value: "bad key"'):
        selector_from_label_dict({"bad key": "x"})


# --- through the server ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("tier in (frontend,backend)", ["backend", "frontend"]),
        ("tier notin (frontend)", ["backend", "unlabelled"]),
        ("!tier", ["unlabelled"]),
        ("tier,tier!=backend", ["frontend"]),
    ],
)
def test_set_based_selectors_select_the_same_through_the_server(
    core: Any, namespace: str, text: str, selected: list[str]
) -> None:
    for name, labels in (
        ("frontend", {"tier": "frontend"}),
        ("backend", {"tier": "backend"}),
        ("unlabelled", None),
    ):
        body = V1ConfigMap(metadata=V1ObjectMeta(name=name, labels=labels))
        core.create_namespaced_config_map(namespace, body)

    listed = core.list_namespaced_config_map(namespace, label_selector=text)

    assert [cm.metadata.name for cm in listed.items] == selected

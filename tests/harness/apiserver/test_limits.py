"""The limits on what the server stores: how deep objects may nest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from harness.apiserver.limits import (
    MAX_NESTING,
    MAX_OBJECT_BYTES,
    check_nesting,
    encode_object,
)
from harness.apiserver.resources import BUILTIN_RESOURCES
from harness.apiserver.status import ApiError

Nested = Callable[[int], dict[str, Any]]

CONFIGMAPS = next(r for r in BUILTIN_RESOURCES if r.plural == "configmaps")


def test_a_body_nested_exactly_to_the_limit_is_accepted(make_nested: Nested) -> None:
    check_nesting(make_nested(MAX_NESTING), "create request")


def test_a_body_nested_one_level_deeper_is_400_with_its_depth(
    make_nested: Nested,
) -> None:
    with pytest.raises(ApiError) as caught:
        check_nesting(make_nested(MAX_NESTING + 1), "create request")

    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    assert f"{MAX_NESTING + 1} levels deep" in caught.value.message


def test_an_object_orjson_cannot_write_is_422_naming_it(make_nested: Nested) -> None:
    with pytest.raises(ApiError) as caught:
        encode_object(CONFIGMAPS, "deep", make_nested(300))

    assert (caught.value.code, caught.value.reason) == (422, "Invalid")
    assert caught.value.message.startswith('ConfigMap "deep" is invalid')


def test_an_object_over_3_mib_is_413_with_its_size() -> None:
    big = {"metadata": {"name": "big"}, "data": {"blob": "x" * MAX_OBJECT_BYTES}}

    with pytest.raises(ApiError) as caught:
        encode_object(CONFIGMAPS, "big", big)

    assert (caught.value.code, caught.value.reason) == (413, "RequestEntityTooLarge")
    assert f"would be {len(orjson.dumps(big))} bytes" in caught.value.message

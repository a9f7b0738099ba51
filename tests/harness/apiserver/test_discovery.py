"""Discovery documents, as kubectl and the clients read them."""

from __future__ import annotations

from typing import Any


def test_namespaces_are_listed_without_deletecollection(core: Any) -> None:
    resources = {r.name: r for r in core.get_api_resources().resources}

    assert "deletecollection" not in resources["namespaces"].verbs
    assert "deletecollection" in resources["configmaps"].verbs

"""The pod informer lists, watches, re-lists on 410 and stops at once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client import ApiClient, CoreV1Api

from harness.controllers.informer import PodInformer, matches

AGENT = "leakhunt-informer-test"


def make_informer(world: Any, api_client: ApiClient) -> PodInformer:
    api_client.user_agent = AGENT
    return PodInformer(
        CoreV1Api(api_client), world.namespace, "app=leakhunt", name=AGENT
    )


@pytest.mark.parametrize(
    ("labels", "selector", "expected"),
    [
        ({"app": "leakhunt"}, "app=leakhunt", True),
        ({"app": "leakhunt", "tier": "web"}, "app=leakhunt,tier=web", True),
        ({"app": "other"}, "app=leakhunt", False),
        (None, "app=leakhunt", False),
        ({"app": "leakhunt"}, "app==leakhunt", True),
        ({"app": "leakhunt"}, "app!=leakhunt", False),
        ({"app": "leakhunt"}, None, True),
    ],
)
def test_labels_match_the_equality_terms_of_a_selector(
    labels: dict[str, str] | None, selector: str | None, expected: bool
) -> None:
    assert matches(labels, selector) is expected


def test_an_expired_watch_makes_the_informer_list_again_and_resume(
    world: Any,
) -> None:
    with ApiClient(world.simulator.configuration()) as api_client:
        informer = make_informer(world, api_client)
        informer.start()
        try:
            assert informer.wait_for_sync(10.0)
            assert world.wait_for(lambda: len(world.watches(AGENT)) == 1)
            lists = world.requests(AGENT, "list")

            # The server ends every watch with 410 Gone.
            world.simulator.control("POST", "/watches/expire")

            assert world.wait_for(lambda: world.requests(AGENT, "list") > lists)
            assert world.wait_for(lambda: len(world.watches(AGENT)) == 1)
            assert len(informer) == world.pods_in_namespace
        finally:
            informer.stop()

    world.settle()
    assert not world.watches(AGENT)


def test_a_dropped_watch_is_resumed_without_a_new_list(world: Any) -> None:
    with ApiClient(world.simulator.configuration()) as api_client:
        informer = make_informer(world, api_client)
        informer.start()
        try:
            assert informer.wait_for_sync(10.0)
            assert world.wait_for(lambda: len(world.watches(AGENT)) == 1)
            lists = world.requests(AGENT, "list")
            first = world.watches(AGENT)[0]["id"]

            world.simulator.control("POST", "/watches/drop")

            assert world.wait_for(
                lambda: [w["id"] for w in world.watches(AGENT)] not in ([], [first])
            )
            assert world.requests(AGENT, "list") == lists
        finally:
            informer.stop()


def test_a_stop_returns_at_once_and_drops_the_cache(world: Any) -> None:
    with ApiClient(world.simulator.configuration()) as api_client:
        informer = make_informer(world, api_client)
        informer.start()
        assert informer.wait_for_sync(10.0)
        time.sleep(0.5)

        started = time.monotonic()
        informer.stop()

        assert time.monotonic() - started < 0.5
        assert len(informer) == 0
        assert not world.threads(AGENT)

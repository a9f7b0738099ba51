"""The fan-out of events to open watches, and how one failing watch ends."""

from __future__ import annotations

import orjson

from harness.apiserver.resources import BUILTIN_RESOURCES
from harness.apiserver.watchers import (
    ADDED,
    Encoder,
    Watcher,
    WatchEvent,
    WatchHub,
)

CONFIGMAPS = next(r for r in BUILTIN_RESOURCES if r.plural == "configmaps")


def _watcher(hub: WatchHub, encoder: Encoder | None = None) -> Watcher:
    watcher = Watcher(
        id=hub.next_id(),
        resource=CONFIGMAPS,
        namespace=None,
        path="/api/v1/configmaps",
        label_text="",
        field_text="",
        label_selector=None,
        field_selector=None,
        user_agent="test",
        resource_version=1,
        encoder=encoder,
    )
    hub.register(watcher)
    return watcher


def _event() -> WatchEvent:
    raw = orjson.dumps({"metadata": {"name": "cm", "namespace": "ns"}})
    return WatchEvent(2, ADDED, CONFIGMAPS, "ns", "cm", raw, {}, {})


def _broken(type_: str, event: WatchEvent) -> bytes:
    raise ValueError("cannot render this row")


def test_a_watch_failing_on_an_event_ends_with_a_500_and_the_others_get_it() -> None:
    hub = WatchHub()
    failing = _watcher(hub, _broken)
    healthy = _watcher(hub)
    event = _event()

    hub.dispatch(event)

    assert healthy.take() == [event.line()]
    assert failing.closed == "failed"
    [line] = failing.take()
    error = orjson.loads(line)
    assert error["type"] == "ERROR"
    assert (error["object"]["code"], error["object"]["reason"]) == (
        500,
        "InternalError",
    )
    assert "cannot render this row" in error["object"]["message"]


def test_a_closed_watch_takes_no_more_events() -> None:
    hub = WatchHub()
    failing = _watcher(hub, _broken)
    hub.dispatch(_event())
    failing.take()

    hub.dispatch(_event())

    assert failing.take() == []

"""Watches through the real ``kubernetes`` client: resume, bookmarks, 410, timeouts."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client
import pytest
import urllib3
from kubernetes import watch
from kubernetes.client import CoreV1Api, V1ConfigMap, V1ObjectMeta

from harness.apiserver.process import SimulatorProcess

WatchEvents = Callable[..., list[dict[str, Any]]]


def _config_map(name: str, labels: dict[str, str] | None = None) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, labels=labels))


def _rv(obj: Any) -> str:
    revision: str = obj.metadata.resource_version
    return revision


def _seen(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["raw_object"]["metadata"]["name"]) for e in events]


def test_watch_from_a_list_sees_only_the_writes_after_it(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    core.create_namespaced_config_map(namespace, _config_map("before"))
    listed = core.list_namespaced_config_map(namespace)

    core.create_namespaced_config_map(namespace, _config_map("after"))
    core.patch_namespaced_config_map("before", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("after", namespace)

    events = watch_events(
        core.list_namespaced_config_map, namespace, resource_version=_rv(listed)
    )
    assert _seen(events) == [
        ("ADDED", "after"),
        ("MODIFIED", "before"),
        ("DELETED", "after"),
    ]


def test_watch_without_a_resource_version_starts_with_the_current_state(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map(namespace, _config_map(name))

    events = watch_events(core.list_namespaced_config_map, namespace)

    assert _seen(events) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


def test_watch_from_an_older_resource_version_replays_every_event_since(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    first = core.create_namespaced_config_map(namespace, _config_map("first"))

    # A client that stopped watching here resumes later from "first".
    for index in range(5):
        core.create_namespaced_config_map(namespace, _config_map(f"missed-{index}"))

    events = watch_events(
        core.list_namespaced_config_map, namespace, resource_version=_rv(first)
    )
    assert _seen(events) == [("ADDED", f"missed-{index}") for index in range(5)]
    revisions = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions)
    assert revisions[0] > int(_rv(first))


def test_watch_with_a_label_selector_sees_objects_leave_and_join_it(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    created = core.create_namespaced_config_map(
        namespace, _config_map("moving", {"tier": "a"})
    )

    for tier in ("b", "a"):
        core.patch_namespaced_config_map(
            "moving", namespace, {"metadata": {"labels": {"tier": tier}}}
        )

    events = watch_events(
        core.list_namespaced_config_map,
        namespace,
        resource_version=_rv(created),
        label_selector="tier=a",
    )
    assert _seen(events) == [("DELETED", "moving"), ("ADDED", "moving")]


def test_watch_with_a_field_selector_sees_only_the_named_object(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    core.create_namespaced_config_map(namespace, _config_map("wanted"))
    core.create_namespaced_config_map(namespace, _config_map("unwanted"))

    events = watch_events(
        core.list_namespaced_config_map,
        namespace,
        field_selector="metadata.name=wanted",
    )

    assert _seen(events) == [("ADDED", "wanted")]


def test_watch_that_sends_initial_events_ends_them_with_a_bookmark(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    core.create_namespaced_config_map(namespace, _config_map("present"))

    events = watch_events(
        core.list_namespaced_config_map,
        namespace,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
    )

    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    annotations = events[1]["raw_object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


@pytest.fixture
def private_simulator() -> Iterator[SimulatorProcess]:
    """A simulator of its own, for tests that compact or expire server-wide."""
    with SimulatorProcess(extra_args=("--bookmark-interval", "0.2")) as process:
        yield process


def test_watch_from_a_compacted_revision_gets_410_gone(
    private_simulator: SimulatorProcess, watch_events: WatchEvents
) -> None:
    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        core = CoreV1Api(api)
        old = core.create_namespaced_config_map("leakhunt-0", _config_map("old"))
        core.create_namespaced_config_map("leakhunt-0", _config_map("new"))
        private_simulator.compact()

        with pytest.raises(kubernetes.client.ApiException) as caught:
            watch_events(
                core.list_namespaced_config_map,
                "leakhunt-0",
                resource_version=_rv(old),
            )

    assert caught.value.status == 410


def test_bookmarks_carry_the_current_resource_version_to_idle_watches(
    private_simulator: SimulatorProcess, watch_events: WatchEvents
) -> None:
    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        core = CoreV1Api(api)
        listed = core.list_namespaced_config_map("leakhunt-0")
        core.create_namespace(
            kubernetes.client.V1Namespace(metadata=V1ObjectMeta(name="elsewhere"))
        )

        events = watch_events(
            core.list_namespaced_config_map,
            "leakhunt-0",
            resource_version=_rv(listed),
            allow_watch_bookmarks=True,
        )

    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks
    assert [e for e in events if e["type"] != "BOOKMARK"] == []
    newest = int(bookmarks[-1]["raw_object"]["metadata"]["resourceVersion"])
    assert newest > int(_rv(listed))


def _wait_for(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_expired_watches_end_with_410_and_leave_the_registry(
    private_simulator: SimulatorProcess, watch_events: WatchEvents
) -> None:
    statuses: list[int] = []

    def watch_until_told_otherwise() -> None:
        with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
            core = CoreV1Api(api)
            listed = core.list_namespaced_config_map("leakhunt-0")
            try:
                watch_events(
                    core.list_namespaced_config_map,
                    "leakhunt-0",
                    resource_version=_rv(listed),
                    timeout_seconds=30,
                )
            except kubernetes.client.ApiException as exc:
                statuses.append(exc.status)

    thread = threading.Thread(target=watch_until_told_otherwise)
    thread.start()
    _wait_for(private_simulator.open_watches)
    assert len(private_simulator.open_watches()) == 1

    assert private_simulator.control("POST", "/watches/expire") == {"expired": 1}
    thread.join(10)

    assert statuses == [410]
    assert private_simulator.open_watches() == []


def test_a_watch_the_client_closes_leaves_the_registry(
    simulator: SimulatorProcess, core: CoreV1Api, namespace: str
) -> None:
    def ours() -> list[dict[str, Any]]:
        return [w for w in simulator.open_watches() if w["namespace"] == namespace]

    response: Any = core.list_namespaced_config_map(
        namespace, watch=True, timeout_seconds=60, _preload_content=False
    )
    _wait_for(ours)
    assert [(w["resource"], w["path"].split("?")[0]) for w in ours()] == [
        ("configmaps", f"/api/v1/namespaces/{namespace}/configmaps")
    ]
    assert ours()[0]["userAgent"].startswith("OpenAPI-Generator")

    response.close()
    response.release_conn()
    _wait_for(lambda: not ours())
    assert ours() == []


def _timed_get(
    simulator: SimulatorProcess, path: str
) -> tuple[urllib3.BaseHTTPResponse, float]:
    """GET by hand, reading the whole answer; return it and the seconds it took."""
    started = time.monotonic()
    response = urllib3.request(
        "GET",
        simulator.url + path,
        headers={"Authorization": f"Bearer {simulator.token}"},
        timeout=30,
    )
    return response, time.monotonic() - started


def test_the_server_ends_a_watch_at_its_own_timeout_with_a_last_bookmark() -> None:
    with SimulatorProcess(extra_args=("--watch-timeout", "1s")) as simulator:
        response, elapsed = _timed_get(
            simulator,
            "/api/v1/namespaces/leakhunt-0/configmaps"
            "?watch=1&resourceVersion=1&allowWatchBookmarks=true",
        )

    lines = [json.loads(line) for line in response.data.splitlines()]
    assert response.status == 200
    assert 1 <= elapsed < 10
    assert [line["type"] for line in lines] == ["BOOKMARK"]


def test_watches_dropped_under_a_busy_writer_resume_without_losing_an_event(
    private_simulator: SimulatorProcess,
) -> None:
    names = [f"busy-{index:03d}" for index in range(150)]
    seen: list[str] = []

    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        core = CoreV1Api(api)
        start = _rv(core.list_namespaced_config_map("leakhunt-0"))
        watcher = watch.Watch()

        def follow() -> None:
            # No timeout: the client resumes by itself from the last
            # resourceVersion it saw, an event's or a bookmark's.
            for event in watcher.stream(
                core.list_namespaced_config_map,
                "leakhunt-0",
                resource_version=start,
                allow_watch_bookmarks=True,
            ):
                if event["type"] != "BOOKMARK":
                    seen.append(event["raw_object"]["metadata"]["name"])
                if len(seen) >= len(names):
                    watcher.stop()

        def write() -> None:
            for name in names:
                core.create_namespaced_config_map("leakhunt-0", _config_map(name))

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        _wait_for(private_simulator.open_watches)
        writer = threading.Thread(target=write)
        writer.start()
        dropped = 0
        while writer.is_alive():
            dropped += private_simulator.control("POST", "/watches/drop")["dropped"]
            time.sleep(0.05)
        writer.join()
        follower.join(30)

    assert dropped > 1
    assert seen == names


class _SlowWatch:
    """A raw watch whose client reads nothing until asked to, so that the
    server's writes to it fill the socket and wait."""

    def __init__(self, simulator: SimulatorProcess, path: str) -> None:
        url = urllib.parse.urlsplit(simulator.url)
        assert url.hostname is not None
        assert url.port is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((url.hostname, url.port))
        self.connection = http.client.HTTPConnection(url.hostname, url.port)
        self.connection.sock = sock
        self.connection.request(
            "GET", path, headers={"Authorization": f"Bearer {simulator.token}"}
        )
        self.response = self.connection.getresponse()

    def read_all(self) -> list[dict[str, Any]]:
        """Read the stream to its end; return its lines, decoded."""
        body = self.response.read()
        self.connection.close()
        return [json.loads(line) for line in body.splitlines()]


BLOB = "x" * 400_000
"""Data enough that a few dozen events overflow what the sockets buffer."""


def _fill(core: CoreV1Api, namespace: str, count: int) -> list[str]:
    names = [f"blob-{index:02d}" for index in range(count)]
    for name in names:
        core.create_namespaced_config_map(
            namespace, V1ConfigMap(metadata=V1ObjectMeta(name=name), data={"b": BLOB})
        )
    return names


def test_a_watch_timing_out_while_writing_to_a_slow_client_sends_its_events_first(
    simulator: SimulatorProcess, core: CoreV1Api, namespace: str
) -> None:
    start = _rv(core.list_namespaced_config_map(namespace))
    began = time.monotonic()
    slow = _SlowWatch(
        simulator,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={start}"
        "&allowWatchBookmarks=true&timeoutSeconds=3",
    )

    names = _fill(core, namespace, 40)
    time.sleep(max(0.0, began + 3.5 - time.monotonic()))
    lines = slow.read_all()

    added = [line["object"]["metadata"]["name"] for line in lines[:-1]]
    last = lines[-1]
    assert added == names
    assert last["type"] == "BOOKMARK"
    newest = int(lines[-2]["object"]["metadata"]["resourceVersion"])
    assert int(last["object"]["metadata"]["resourceVersion"]) >= newest


def test_a_watch_expired_while_writing_to_a_slow_client_still_ends_with_410(
    private_simulator: SimulatorProcess,
) -> None:
    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        core = CoreV1Api(api)
        start = _rv(core.list_namespaced_config_map("leakhunt-0"))
        slow = _SlowWatch(
            private_simulator,
            f"/api/v1/namespaces/leakhunt-0/configmaps?watch=1&resourceVersion={start}"
            "&timeoutSeconds=30",
        )
        names = _fill(core, "leakhunt-0", 40)

        expired = private_simulator.control("POST", "/watches/expire")
        lines = slow.read_all()

    assert expired == {"expired": 1}
    assert [line["object"]["metadata"]["name"] for line in lines[:-1]] == names
    assert lines[-1]["type"] == "ERROR"
    assert lines[-1]["object"]["code"] == 410


def test_a_watch_from_a_resource_version_not_yet_reached_is_504_after_a_wait(
    simulator: SimulatorProcess,
) -> None:
    response, waited = _timed_get(
        simulator,
        "/api/v1/namespaces/leakhunt-0/pods?watch=1&resourceVersion=999999999",
    )

    status = json.loads(response.data)
    assert (response.status, status["kind"], status["reason"]) == (
        504,
        "Status",
        "Timeout",
    )
    assert status["message"].startswith("Timeout: Too large resource version: 9999")
    assert status["details"] == {"retryAfterSeconds": 1}
    assert response.headers["Retry-After"] == "1"
    assert 2.5 < waited < 10


def test_a_watch_from_a_resource_version_reached_while_it_waits_starts_there(
    core: CoreV1Api, namespace: str, watch_events: WatchEvents
) -> None:
    listed = core.list_namespaced_config_map(namespace)
    next_revision = str(int(_rv(listed)) + 1)
    events: list[dict[str, Any]] = []
    watching = threading.Thread(
        target=lambda: events.extend(
            watch_events(
                core.list_namespaced_config_map,
                namespace,
                resource_version=next_revision,
                timeout_seconds=2,
            )
        )
    )
    watching.start()
    time.sleep(0.5)

    core.create_namespaced_config_map(namespace, _config_map("first"))
    core.create_namespaced_config_map(namespace, _config_map("second"))
    watching.join()

    assert _seen(events) == [("ADDED", "second")]

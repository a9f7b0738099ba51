"""The control client against a real simulator, with the real ``kubernetes`` client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import urllib3
from kubernetes import watch
from kubernetes.client import CoreV1Api, V1Container, V1ObjectMeta, V1Pod, V1PodSpec
from kubernetes.client.exceptions import ApiException

from harness.apiserver.process import SimulatorProcess
from harness.errors import ConfigurationError, ServerError
from harness.lifecycle.server import ServerControl
from harness.lifecycle.sync import WatchTracker
from harness.workload.control import Control

WATCH_SECONDS = 60
"""timeoutSeconds of the client watches here: far longer than any test waits."""

WAIT = 10.0
"""Seconds to wait for something that happens at once unless it is broken."""

LATENCY = 1.0


class BackgroundWatch:
    """A ``kubernetes.watch.Watch`` on the pods of a namespace, in a thread."""

    def __init__(self, core: CoreV1Api, namespace: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(core, namespace), daemon=True
        )
        self._watch = watch.Watch()
        self._thread.start()

    def _run(self, core: CoreV1Api, namespace: str) -> None:
        try:
            for event in self._watch.stream(
                core.list_namespaced_pod, namespace, timeout_seconds=WATCH_SECONDS
            ):
                self.events.append(event)
        except BaseException as exc:
            self.error = exc

    def wait_for_event(self) -> None:
        """Wait up to WAIT seconds for the first event to reach the client."""
        deadline = time.monotonic() + WAIT
        while not self.events:
            assert time.monotonic() < deadline, "the watch delivered no event"
            time.sleep(0.02)

    def ended(self) -> bool:
        """Wait up to WAIT seconds for the stream to end; tell whether it has."""
        self._thread.join(WAIT)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Close the stream if it is still open."""
        self._watch.stop()
        self._thread.join(WAIT)


@pytest.fixture
def background_watch(
    core: CoreV1Api, namespace: str
) -> Iterator[Callable[[], BackgroundWatch]]:
    """Start watches on the test's namespace; each is stopped afterwards."""
    started: list[BackgroundWatch] = []

    def start() -> BackgroundWatch:
        started.append(BackgroundWatch(core, namespace))
        return started[-1]

    yield start
    for background in started:
        background.stop()


def _watches_on(control: Control, namespace: str) -> list[dict[str, Any]]:
    prefix = f"/api/v1/namespaces/{namespace}/pods?"
    return [w for w in control.open_watches() if w["url"].startswith(prefix)]


def _wait_for_watches(control: Control, namespace: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while not (watches := _watches_on(control, namespace)):
        assert time.monotonic() < deadline, f"no watch on {namespace} was opened"
        time.sleep(0.02)
    return watches


def test_expire_watches_ends_a_client_watch_with_410_gone(
    control: Control,
    namespace: str,
    background_watch: Callable[[], BackgroundWatch],
) -> None:
    client_watch = background_watch()
    _wait_for_watches(control, namespace)

    control.expire_watches()

    assert client_watch.ended()
    assert isinstance(client_watch.error, ApiException)
    assert client_watch.error.status == 410
    assert "Expired: too old resource version" in str(client_watch.error.reason)


def test_drop_watches_ends_a_client_watch_without_an_error(
    control: Control,
    namespace: str,
    background_watch: Callable[[], BackgroundWatch],
) -> None:
    client_watch = background_watch()
    _wait_for_watches(control, namespace)

    control.drop_watches()

    assert client_watch.ended()
    assert client_watch.error is None
    assert _watches_on(control, namespace) == []


def test_set_latency_slows_a_list_until_it_is_turned_off(
    control: Control, core: CoreV1Api
) -> None:
    control.set_latency(LATENCY)
    started = time.monotonic()
    core.list_namespaced_pod("leakhunt-0")
    slowed = time.monotonic() - started

    control.set_latency(0.0)
    started = time.monotonic()
    core.list_namespaced_pod("leakhunt-0")
    restored = time.monotonic() - started

    assert slowed >= LATENCY
    assert restored < LATENCY


def test_open_watches_lists_a_watch_with_the_client_socket_as_its_peer(
    control: Control, core: CoreV1Api, namespace: str
) -> None:
    # NB: without preloading, the client returns the raw urllib3 response,
    # whatever the method's annotation says.
    response = cast(
        urllib3.HTTPResponse,
        core.list_namespaced_pod(
            namespace,
            watch=True,
            label_selector="app=leakhunt",
            timeout_seconds=WATCH_SECONDS,
            _preload_content=False,
        ),
    )
    try:
        assert response.connection is not None
        host, port = response.connection.sock.getsockname()[:2]
        [entry] = _watches_on(control, namespace)
    finally:
        response.close()
        response.release_conn()

    assert entry["peer"] == f"{host}:{port}"
    assert entry["url"].startswith(f"/api/v1/namespaces/{namespace}/pods?")
    assert "watch=True" in entry["url"] or "watch=true" in entry["url"]
    assert "labelSelector=app%3Dleakhunt" in entry["url"]
    assert entry["userAgent"].startswith("OpenAPI-Generator/")
    assert entry["id"]
    assert entry["since"]


def test_a_closed_watch_leaves_the_list_of_open_watches(
    control: Control,
    core: CoreV1Api,
    namespace: str,
    background_watch: Callable[[], BackgroundWatch],
) -> None:
    core.create_namespaced_pod(
        namespace,
        V1Pod(
            metadata=V1ObjectMeta(name="watched"),
            spec=V1PodSpec(containers=[V1Container(name="c")]),
        ),
    )
    client_watch = background_watch()
    _wait_for_watches(control, namespace)
    # NB: the server registers a watch before the client holds its response,
    # and a Watch.stop() in between is lost (docs/controllers.md); the pod's
    # ADDED event proves the client holds it, so the stop closes the stream.
    client_watch.wait_for_event()

    client_watch.stop()

    deadline = time.monotonic() + WAIT
    while _watches_on(control, namespace) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _watches_on(control, namespace) == []


def test_a_watch_tracker_finds_this_process_watch_through_the_control(
    control: Control, namespace: str, background_watch: Callable[[], BackgroundWatch]
) -> None:
    server: ServerControl = control
    tracker = WatchTracker(server)
    before = tracker.own()

    background_watch()

    assert tracker.wait_for_new(before, WAIT)
    [new] = tracker.own() - before
    assert f"/namespaces/{namespace}/pods?" in new[2]


def test_audit_since_returns_only_the_requests_after_it(
    control: Control, core: CoreV1Api
) -> None:
    mark = max(record["seq"] for record in control.audit())
    core.list_namespaced_pod("leakhunt-1", label_selector="leakhunt.dev/shard=3")

    newer = control.audit(since=mark)
    latest = newer[-1]["seq"]
    again = control.audit(since=latest)

    assert [r["seq"] for r in newer] == list(range(mark + 1, latest + 1))
    assert any(
        r["verb"] == "list" and r["label_selector"] == "leakhunt.dev/shard=3"
        for r in newer
    )
    assert [(r["seq"], r["path"]) for r in again] == [
        (latest + 1, "/leakhunt/v1/audit")
    ]


def test_audit_since_something_other_than_a_number_gets_400(
    simulator: SimulatorProcess,
) -> None:
    with pytest.raises(ServerError, match=r"400: .*since: expected the seq .* 'last'"):
        simulator.control("GET", "/audit?since=last")


def test_a_wrong_token_is_a_server_error_that_says_401(
    simulator: SimulatorProcess,
) -> None:
    control = Control(simulator.url, "not-the-token")

    with pytest.raises(ServerError, match=r"failed with 401 Unauthorized: .*bearer"):
        control.open_watches()


def test_an_unreachable_simulator_is_a_server_error_that_names_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    with pytest.raises(ServerError, match=f"cannot reach the simulator at {url}"):
        Control(url, "token").drop_watches()


@pytest.mark.parametrize("url", ["127.0.0.1:8443", "ftp://host", "http://"])
def test_a_url_that_is_not_http_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="expected the simulator's URL"):
        Control(url, "token")


def test_a_negative_latency_is_refused_before_it_reaches_the_server(
    control: Control,
) -> None:
    with pytest.raises(ConfigurationError, match=r"0 seconds or more.* got -1"):
        control.set_latency(-1)


def test_from_simulator_talks_https_to_a_simulator_serving_tls() -> None:
    with SimulatorProcess(objects=4, namespaces=1, tls=True) as secure:
        control = Control.from_simulator(secure)
        try:
            control.start_churn("leakhunt-0", 10)
            assert control.churn()["running"] is True
        finally:
            control.stop_churn()

        with pytest.raises(ServerError, match="CERTIFICATE_VERIFY_FAILED"):
            Control(secure.url, secure.token).open_watches()

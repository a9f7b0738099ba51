"""Waiting for a sync: the controller's own word, the server's, or a settle delay."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest

from harness.lifecycle.sync import WatchTracker, wait_for_sync


class _HasSynced:
    def __init__(self, after_calls: int) -> None:
        self.calls = 0
        self.after_calls = after_calls

    def has_synced(self) -> bool:
        self.calls += 1
        return self.calls > self.after_calls


class _WaitForSync:
    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.timeouts: list[float] = []

    def wait_for_sync(self, timeout: float) -> bool | None:
        self.timeouts.append(timeout)
        return self.answer


def test_wait_for_sync_is_asked_with_the_sync_timeout() -> None:
    controller = _WaitForSync(answer=True)

    outcome = wait_for_sync(controller, timeout=7, tracker=None, watches_before=set())

    assert outcome.synced
    assert outcome.method == "wait_for_sync"
    assert controller.timeouts == [7]


def test_wait_for_sync_returning_false_is_a_missed_sync() -> None:
    outcome = wait_for_sync(
        _WaitForSync(answer=False), timeout=1, tracker=None, watches_before=set()
    )

    assert not outcome.synced


def test_has_synced_is_polled_until_true() -> None:
    controller = _HasSynced(after_calls=3)

    outcome = wait_for_sync(controller, timeout=5, tracker=None, watches_before=set())

    assert outcome.synced
    assert outcome.method == "has_synced"
    assert controller.calls == 4


def test_has_synced_never_true_is_recorded_after_the_timeout() -> None:
    outcome = wait_for_sync(
        _HasSynced(after_calls=10**9), timeout=0.2, tracker=None, watches_before=set()
    )

    assert not outcome.synced
    assert outcome.seconds >= 0.2


def test_without_any_signal_the_settle_delay_is_waited() -> None:
    outcome = wait_for_sync(
        object(), timeout=5, tracker=None, watches_before=set(), settle_delay=0.1
    )

    assert outcome.synced
    assert outcome.method == "settle"
    assert 0.1 <= outcome.seconds < 1


def test_a_watch_from_this_process_is_recognised_by_its_peer(fake_server: Any) -> None:
    tracker = WatchTracker(fake_server)
    before = tracker.own()
    host, port = fake_server.address.split(":")

    with socket.create_connection((host, int(port))):
        assert tracker.wait_for_new(before, 5)
        assert len(tracker.own()) == 1

    assert not tracker.own()


def test_a_watch_from_another_process_is_not_ours(fake_server: Any) -> None:
    tracker = WatchTracker(fake_server)
    host, port = fake_server.address.split(":")
    code = (
        "import socket, sys;"
        " s = socket.create_connection((sys.argv[1], int(sys.argv[2])));"
        " print('connected', flush=True); sys.stdin.read()"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", code, host, port],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "connected"
        assert tracker.wait_for_new(set(), 0.3) is False
        assert WatchTracker(fake_server, pid=other.pid).wait_for_new(set(), 5)
    finally:
        other.communicate("")


def test_the_server_watch_is_used_when_the_controller_offers_nothing(
    fake_server: Any,
) -> None:
    tracker = WatchTracker(fake_server)
    host, port = fake_server.address.split(":")

    with socket.create_connection((host, int(port))):
        outcome = wait_for_sync(None, timeout=5, tracker=tracker, watches_before=set())

    assert outcome.synced
    assert outcome.method == "server-watch"


@pytest.mark.parametrize(
    "peer",
    ["127.0.0.1:{port}", "[::ffff:127.0.0.1]:{port}", ["127.0.0.1", "{port}"]],
)
def test_peer_addresses_are_understood_in_each_form(
    peer: Any, fake_server: Any
) -> None:
    host, port = fake_server.address.split(":")
    with socket.create_connection((host, int(port))) as connection:
        local_port = connection.getsockname()[1]
        form = (
            [peer[0], local_port]
            if isinstance(peer, list)
            else peer.format(port=local_port)
        )
        server = _Listing([{"peer": form}])

        assert len(WatchTracker(server).own()) == 1


class _Listing:
    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries

    def open_watches(self) -> list[dict[str, Any]]:
        return self.entries

    def start_churn(self, namespace: str, rate: float | None = None) -> None: ...
    def stop_churn(self) -> None: ...
    def expire_watches(self) -> None: ...
    def drop_watches(self) -> None: ...
    def set_latency(self, seconds: float) -> None: ...

"""Waiting for a started controller to sync, by its own word or by the server's."""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from harness.lifecycle.server import ServerControl
from harness.lifecycle.threads import call_with_deadline

logger = logging.getLogger(__name__)

DEFAULT_SYNC_TIMEOUT = 30.0
"""Seconds a controller has to sync before the cycle records that it did not."""

DEFAULT_SETTLE_DELAY = 0.5
"""Seconds given to a controller that offers no sync signal and no server to ask."""

POLL_FIRST = 0.01
"""Seconds before the second look at has_synced() or the watch registry."""

POLL_MAX = 0.2
"""Longest pause, in seconds, between two looks; the pause doubles up to it."""

Peer = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]

WatchKey = tuple[str, Peer, str, str]
"""One open watch: its registry id, peer, URL and start time, as far as known.

NB: the peer alone does not tell two watches apart: after a 410 the client
often sends its new watch over the same kept-alive connection.
"""


@dataclass(frozen=True)
class SyncOutcome:
    """SyncOutcome says whether and how fast a controller synced.

    ``method`` is how it was judged: ``wait_for_sync`` or ``has_synced`` (the
    controller's own word), ``server-watch`` (a new watch from this process
    appeared on the server), ``settle`` (a fixed delay, no evidence either way)
    or ``skipped`` (the scenario stops before the sync).
    """

    synced: bool
    seconds: float
    method: str
    error: str | None = None


class WatchTracker:
    """WatchTracker finds the server's open watches that come from one process.

    The server's registry knows each watch's peer address; this process's
    own sockets (read with psutil) know their local addresses. A watch whose
    peer is one of them is ours.
    """

    def __init__(self, server: ServerControl, pid: int | None = None) -> None:
        self.server = server
        self.pid = pid if pid is not None else os.getpid()

    def own(self) -> set[WatchKey]:
        """The open watches that belong to the tracked process."""
        local = self._local_addresses()
        keys: set[WatchKey] = set()
        for entry in self.server.open_watches():
            peer = _parse_peer(entry.get("peer"))
            if peer is not None and peer in local:
                keys.add(
                    (
                        str(entry.get("id", "")),
                        peer,
                        str(entry.get("url", "")),
                        str(entry.get("since", "")),
                    )
                )
        return keys

    def wait_for_new(
        self,
        before: set[WatchKey],
        timeout: float,
        give_up: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Wait until a watch not in ``before`` is open.

        False after ``timeout``, or as soon as ``give_up()`` is true.
        """
        return _poll(lambda: bool(self.own() - before), timeout, give_up)

    def _local_addresses(self) -> set[Peer]:
        try:
            connections = psutil.Process(self.pid).net_connections("tcp")
        except psutil.Error:
            return set()
        local: set[Peer] = set()
        for connection in connections:
            if connection.laddr:
                peer = _normalise(connection.laddr.ip, connection.laddr.port)
                if peer is not None:
                    local.add(peer)
        return local


def wait_for_sync(
    handle: object | None,
    *,
    timeout: float,
    tracker: WatchTracker | None,
    watches_before: set[WatchKey],
    settle_delay: float = DEFAULT_SETTLE_DELAY,
    ended: Callable[[], bool] = lambda: False,
) -> SyncOutcome:
    """Wait for a started controller to sync, by the best evidence available.

    First the controller's own ``wait_for_sync(timeout)`` or ``has_synced()``
    on ``handle``; then a new watch from this process on the server (not in
    ``watches_before``); then, with neither, ``settle_delay`` seconds. Never
    raises for a controller that does not sync: ``synced`` is false. Polling
    stops early once ``ended()`` is true: a controller that has already
    returned (an async one that crashed) will not sync.
    """
    started = time.monotonic()

    wait = getattr(handle, "wait_for_sync", None)
    if callable(wait):
        # NB: the controller's wait gets the timeout, but a wait that ignores
        # it must not hold the cycle, so it runs under a deadline of its own.
        result = call_with_deadline(
            lambda: wait(timeout), timeout + POLL_MAX, name="wait-for-sync"
        )
        return SyncOutcome(
            synced=not result.timed_out
            and result.error is None
            and result.value is not False,
            seconds=time.monotonic() - started,
            method="wait_for_sync",
            error=result.error,
        )

    has_synced = getattr(handle, "has_synced", None)
    if callable(has_synced):
        try:
            synced = _poll(lambda: bool(has_synced()), timeout, ended)
        except Exception as exc:
            return SyncOutcome(
                synced=False,
                seconds=time.monotonic() - started,
                method="has_synced",
                error=f"has_synced() raised {type(exc).__name__}: {exc}",
            )
        return SyncOutcome(synced, time.monotonic() - started, "has_synced")

    if tracker is not None:
        synced = tracker.wait_for_new(watches_before, timeout, ended)
        return SyncOutcome(synced, time.monotonic() - started, "server-watch")

    time.sleep(min(settle_delay, timeout))
    return SyncOutcome(True, time.monotonic() - started, "settle")


def _poll(
    condition: Callable[[], bool], timeout: float, give_up: Callable[[], bool]
) -> bool:
    deadline = time.monotonic() + timeout
    interval = POLL_FIRST
    while True:
        if condition():
            return True
        if give_up():
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, POLL_MAX)


def _parse_peer(peer: Any) -> Peer | None:
    if isinstance(peer, list | tuple) and len(peer) >= 2:
        return _normalise(str(peer[0]), peer[1])
    if isinstance(peer, str):
        host, _, port = peer.rpartition(":")
        return _normalise(host.strip("[]"), port)
    return None


def _normalise(host: str, port: Any) -> Peer | None:
    try:
        address = ipaddress.ip_address(host.split("%", maxsplit=1)[0])
        number = int(port)
    except ValueError:
        return None
    # NB: a dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped, number
    return address, number

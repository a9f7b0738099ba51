"""The client's side of the watch conversation: watch responses and connections.

A watch holds an HTTP response open on its own connection, so a watch the
controller forgot to close shows here twice after the stop: as a watch
response that is still open (``client_watches_open``), and as a socket to the
API server (``api_connections``). The details list each open watch with its
URL and the endpoints of its socket, and every connection to the server.

Watch responses are found as they are made, not by walking the heap (which
costs tens of milliseconds a cycle on a large heap): while the probe runs,
urllib3's ``HTTPConnection.getresponse`` (the official client) and aiohttp's
``ClientResponse`` (kubernetes_asyncio, kopf) note every response to a
request with ``watch=`` in its URL, by weak reference, so noting one never
keeps it alive.
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psutil
import urllib3.connection

logger = logging.getLogger(__name__)

MAX_WATCHES_LISTED = 20
"""Open watch responses listed in the details; the count is always complete."""

WATCH_QUERY = "watch="
"""What a watch request's URL carries (``?watch=true`` or ``watch=True``)."""

CLIENT_WATCHES_SIGNAL = "client_watches_open"
"""The count of watch responses still open after the stop."""


@dataclass(frozen=True)
class _Watch:
    """What is known of one watch response when it was made."""

    url: str
    socket: str
    """The socket's endpoints (``local -> remote``), when known at once."""


class WatchResponses:
    """Notes every watch response this process opens, while installed.

    :meth:`install` wraps the two places responses are made; :meth:`open`
    lists those not closed yet. The responses are held by weak reference.
    """

    def __init__(self) -> None:
        self._watches: weakref.WeakKeyDictionary[Any, _Watch] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._restore: list[Callable[[], None]] = []
        self._wrapped_urllib3 = False
        self._wrapped_aiohttp = False

    def install(self) -> None:
        """Start noting watch responses of the clients imported so far.

        Called again, it also wraps a client imported since (a controller
        that imports aiohttp in its first cycle); one already wrapped is left
        as it is.
        """
        if not self._wrapped_urllib3:
            self._wrap_urllib3()
        # NB: aiohttp is only wrapped once the controller has imported it, so
        # that a controller on the official client does not carry aiohttp's
        # objects in the heap that is measured.
        aiohttp = sys.modules.get("aiohttp")
        if aiohttp is not None and not self._wrapped_aiohttp:
            self._wrap_aiohttp(aiohttp.ClientResponse)

    def uninstall(self) -> None:
        """Stop noting watch responses."""
        while self._restore:
            self._restore.pop()()
        self._wrapped_urllib3 = self._wrapped_aiohttp = False

    def open(self) -> list[dict[str, str]]:
        """The watch responses noted that are still open: URL and socket."""
        with self._lock:
            noted = list(self._watches.items())
        return [
            {"url": watch.url, "socket": watch.socket or _aiohttp_socket(response)}
            for response, watch in noted
            if not _closed(response)
        ]

    def count(self) -> int:
        """How many of the watch responses noted are still open."""
        with self._lock:
            responses = list(self._watches.keys())
        return sum(1 for response in responses if not _closed(response))

    def _wrap_urllib3(self) -> None:
        owner = urllib3.connection.HTTPConnection
        original = owner.getresponse
        note = self._note

        @functools.wraps(original)
        def getresponse(connection: Any) -> Any:
            response = original(connection)
            url = str(getattr(response, "url", "") or "")
            if WATCH_QUERY in url:
                note(response, _Watch(url, _urllib3_socket(connection)))
            return response

        self._replace(owner, "getresponse", getresponse, original)
        self._wrapped_urllib3 = True

    def _wrap_aiohttp(self, owner: type) -> None:
        original: Any = owner.__dict__["__init__"]
        note = self._note

        # NB: the connection is attached after the response is made, so an
        # aiohttp watch's socket is looked up when it is listed.
        @functools.wraps(original)
        def init(response: Any, method: str, url: Any, **kwargs: Any) -> None:
            original(response, method, url, **kwargs)
            text = str(url)
            if WATCH_QUERY in text:
                note(response, _Watch(text, ""))

        self._replace(owner, "__init__", init, original)
        self._wrapped_aiohttp = True

    def _replace(self, owner: type, name: str, wrapper: Any, original: Any) -> None:
        setattr(owner, name, wrapper)
        self._restore.append(functools.partial(setattr, owner, name, original))

    def _note(self, response: Any, watch: _Watch) -> None:
        with self._lock:
            self._watches[response] = watch


def _closed(response: Any) -> bool:
    # NB: urllib3 reports a response read to its end as closed, so a watch
    # the server ended is not counted; aiohttp's is closed once released.
    try:
        return bool(response.closed)
    except (AttributeError, OSError, ValueError):
        return True


def _urllib3_socket(connection: Any) -> str:
    sock: Any = getattr(connection, "sock", None)
    try:
        local, remote = sock.getsockname(), sock.getpeername()
    except (AttributeError, OSError):
        return ""
    return f"{local[0]}:{local[1]} -> {remote[0]}:{remote[1]}"


def _aiohttp_socket(response: Any) -> str:
    transport = getattr(getattr(response, "connection", None), "transport", None)
    if transport is None:
        return ""
    local = transport.get_extra_info("sockname")
    remote = transport.get_extra_info("peername")
    if not local or not remote:
        return ""
    return f"{local[0]}:{local[1]} -> {remote[0]}:{remote[1]}"


def _server_address(host_url: str) -> tuple[set[str], int]:
    parts = urlsplit(host_url)
    hostname = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except OSError:
        logger.warning("Could not resolve the API server host %s.", hostname)
        return {hostname}, port
    return {str(info[4][0]) for info in infos}, port


class ServerSocketsProbe:
    """Counts open watch responses and connections from this process to the API
    server."""

    name = "watches"

    def __init__(self, host_url: str) -> None:
        self._addresses, self._port = _server_address(host_url)
        self._process = psutil.Process()
        self._responses = WatchResponses()

    def start(self) -> None:
        """Start noting watch responses; the connection count is absolute."""
        self._responses.install()

    def _connections(self) -> list[str]:
        found = []
        for conn in self._process.net_connections("tcp"):
            remote = conn.raddr
            if not remote or conn.status != psutil.CONN_ESTABLISHED:
                continue
            if remote.port == self._port and remote.ip in self._addresses:
                found.append(
                    f"{conn.laddr.ip}:{conn.laddr.port} -> {remote.ip}:{remote.port}"
                )
        return found

    def sample(self) -> dict[str, float]:
        """Return ``client_watches_open`` (watch responses not closed) and
        ``api_connections`` (established TCP connections to the server)."""
        self._responses.install()
        return {
            CLIENT_WATCHES_SIGNAL: float(self._responses.count()),
            "api_connections": float(len(self._connections())),
        }

    def details(self) -> dict[str, object]:
        """List the open watch responses, with their URLs and sockets, and the
        connections."""
        watches = self._responses.open()
        return {
            "api_connections": self._connections(),
            "client_watches": watches[:MAX_WATCHES_LISTED],
            "client_watches_omitted": max(0, len(watches) - MAX_WATCHES_LISTED),
        }

    def stop(self) -> None:
        """Stop noting watch responses."""
        self._responses.uninstall()

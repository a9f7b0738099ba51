"""The client's side of the watch conversation: connections to the API server.

A watch holds an HTTP response open on its own connection, so a watch the
controller forgot to close shows here as a socket to the API server that
outlives the stop. The probe counts this process's TCP connections to the API
server's address (``api_connections``); its details list each one and the
watch responses still open in the heap, with their URLs.
"""

from __future__ import annotations

import gc
import logging
import socket
from urllib.parse import urlsplit

import psutil
import urllib3

logger = logging.getLogger(__name__)

MAX_WATCH_URLS = 20
"""Open watch responses listed in the details; the count is always complete."""


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
    """Counts open connections from this process to the API server."""

    name = "watches"

    def __init__(self, host_url: str) -> None:
        self._addresses, self._port = _server_address(host_url)
        self._process = psutil.Process()

    def start(self) -> None:
        """Nothing to take: the count is absolute."""

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
        """Return ``api_connections``: established TCP connections to the server."""
        return {"api_connections": float(len(self._connections()))}

    def details(self) -> dict[str, object]:
        """List the connections, and the watch responses still open in the heap."""
        watch_urls: list[str] = []
        open_watches = 0
        for obj in gc.get_objects():
            if not isinstance(obj, urllib3.response.BaseHTTPResponse):
                continue
            url = obj.url or ""
            if "watch=" not in url or obj.closed:
                continue
            open_watches += 1
            if len(watch_urls) < MAX_WATCH_URLS:
                watch_urls.append(url)
        return {
            "api_connections": self._connections(),
            "open_watch_responses": open_watches,
            "open_watch_urls": watch_urls,
        }

    def stop(self) -> None:
        """Nothing to release."""

"""The control client: churn, faults and the watch registry of a simulator, over HTTP.

:class:`Control` implements :class:`harness.lifecycle.server.ServerControl`
against the simulator's ``/leakhunt/v1`` endpoints, so scenarios can disturb
the server a controller talks to: churn pods, expire or drop every watch,
slow every response down, and list the watches open now with each client's
address. It also pages through the server's request audit.
"""

from __future__ import annotations

import http.client
import logging
import math
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

import orjson

from harness.errors import ConfigurationError, ServerError

if TYPE_CHECKING:
    from harness.apiserver.process import SimulatorProcess

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/leakhunt/v1"
"""Where the simulator serves its control endpoints."""

DEFAULT_CHURN_RATE = 20.0
"""Operations per second of a churn started without a rate."""

CONTROL_TIMEOUT = 30.0
"""Seconds a control request may take before the server counts as unreachable."""

ERROR_BODY_LIMIT = 200
"""Characters of an error body quoted when it is not a ``metav1.Status``."""


class Control:
    """Control drives a running simulator through its control endpoints.

    ``url`` and ``token`` are the simulator's URL and bearer token (from its
    kubeconfig); ``churn_rate`` is the rate of a churn started without one;
    ``ssl_context`` is needed only for a simulator serving HTTPS. Each call
    opens a connection and closes it, so the client holds no socket between
    calls that a socket probe of the caller's process could mistake for a
    leak. Every method returns once the server has acted, and raises
    :class:`~harness.errors.ServerError` with one line saying why otherwise.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        churn_rate: float = DEFAULT_CHURN_RATE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigurationError(
                f"expected the simulator's URL, such as http://127.0.0.1:8443, "
                f"got {url!r}"
            )
        self.url = url.rstrip("/")
        self.churn_rate = churn_rate
        self._token = token

        # NB: http.client ignores HTTP(S)_PROXY, as it must here: the
        # simulator is on loopback or on a host named outright.
        self._parts = parsed
        self._ssl_context = ssl_context

    @classmethod
    def from_simulator(
        cls, simulator: SimulatorProcess, *, churn_rate: float = DEFAULT_CHURN_RATE
    ) -> Control:
        """Return a client for a started :class:`SimulatorProcess`."""
        if not simulator.url:
            raise ServerError("the simulator is not running; call start() first")
        return cls(
            simulator.url,
            simulator.token,
            churn_rate=churn_rate,
            ssl_context=simulator.ssl_context(),
        )

    def __repr__(self) -> str:
        return f"Control({self.url!r}, churn_rate={self.churn_rate})"

    # ServerControl.

    def start_churn(self, namespace: str, rate: float | None = None) -> None:
        """Start creating, updating and deleting pods in ``namespace``.

        ``rate`` is in operations per second (``churn_rate`` when None). A
        churn already running is replaced.
        """
        effective = self.churn_rate if rate is None else rate
        if not math.isfinite(effective) or effective <= 0:
            raise ConfigurationError(
                f"expected a churn rate above 0 operations per second, such as "
                f"20, got {effective}"
            )
        self._call("POST", "/churn", {"namespace": namespace, "rate": effective})
        logger.info(
            "The simulator at %s churns the namespace %s at %.1f operations/s.",
            self.url,
            namespace,
            effective,
        )

    def stop_churn(self) -> None:
        """Stop the churn (a no-op if none is running)."""
        state = self._call("DELETE", "/churn")
        if state.get("namespace"):
            logger.info(
                "The simulator at %s stopped churning %s after %d operations.",
                self.url,
                state["namespace"],
                state.get("operations", 0),
            )

    def expire_watches(self) -> None:
        """End every open watch with a ``410 Gone`` ERROR event."""
        expired = self._call("POST", "/watches/expire").get("expired", 0)
        logger.info("The simulator at %s expired %d watches.", self.url, expired)

    def drop_watches(self) -> None:
        """End every open watch's stream without an error event."""
        dropped = self._call("POST", "/watches/drop").get("dropped", 0)
        logger.info("The simulator at %s dropped %d watches.", self.url, dropped)

    def set_latency(self, seconds: float) -> None:
        """Delay every API response by ``seconds`` (0 turns the delay off)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigurationError(
                f"expected a latency of 0 seconds or more, such as 0.5, got {seconds}"
            )
        self._call("POST", "/faults", {"latencySeconds": seconds})
        logger.info("The simulator at %s answers after %.3f s.", self.url, seconds)

    def open_watches(self) -> list[dict[str, Any]]:
        """List the watches open on the server now, oldest first.

        Each carries ``id``, ``peer`` (the client's ``host:port`` as the
        server saw it), ``url`` (path and query), ``since``, ``userAgent``,
        the resource and selectors, and ``sentEvents``.
        """
        items: list[dict[str, Any]] = self._call("GET", "/watches")["items"]
        return items

    # Beyond ServerControl.

    def churn(self) -> dict[str, Any]:
        """Return the churn: ``running``, ``namespace``, ``rate``, ``operations``
        (with ``created``, ``updated``, ``deleted``, ``failed``), ``seconds``."""
        state: dict[str, Any] = self._call("GET", "/churn")
        return state

    def audit(self, since: int = 0) -> list[dict[str, Any]]:
        """Return the requests the server finished after sequence number ``since``.

        Each record carries its ``seq``; pass the last one seen to get only
        newer requests next time. The server remembers the latest 10,000.
        """
        if since < 0:
            raise ConfigurationError(
                f"expected an audit sequence number of 0 or more, got {since}"
            )
        items: list[dict[str, Any]] = self._call("GET", f"/audit?since={since}")[
            "items"
        ]
        return items

    # HTTP.

    def _call(self, method: str, path: str, body: object = None) -> Any:
        url = f"{self.url}{CONTROL_PREFIX}{path}"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        # NB: plain http.client rather than urllib.request: the opener looks
        # up a handler method per call by a freshly built name, which leaves a
        # few memory blocks behind per request in CPython's caches. Scenarios
        # call this from inside the measured process, between samples.
        connection = self._connect()
        try:
            connection.request(
                method,
                f"{CONTROL_PREFIX}{path}",
                body=None if body is None else orjson.dumps(body),
                headers=headers,
            )
            reply = connection.getresponse()
            payload = reply.read()
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise ServerError(
                f"cannot reach the simulator at {self.url} for {method} "
                f"{CONTROL_PREFIX}{path}: {exc or type(exc).__name__}"
            ) from None
        finally:
            connection.close()

        if reply.status >= 400:
            raise ServerError(
                f"{method} {url} failed with {reply.status} {reply.reason}: "
                f"{_error_detail(payload)}"
            )
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise ServerError(
                f"{method} {url} answered with something other than JSON: "
                f"{_quote(payload)}"
            ) from None

    def _connect(self) -> http.client.HTTPConnection:
        host = self._parts.hostname or "127.0.0.1"
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(
                host,
                self._parts.port,
                timeout=CONTROL_TIMEOUT,
                context=self._ssl_context,
            )
        return http.client.HTTPConnection(
            host, self._parts.port, timeout=CONTROL_TIMEOUT
        )


def _error_detail(body: bytes) -> str:
    """Return the message of a ``metav1.Status`` body, or the body itself."""
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _quote(body)
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    return _quote(body)


def _quote(body: bytes) -> str:
    text = " ".join(body.decode(errors="replace").split())
    if len(text) > ERROR_BODY_LIMIT:
        text = text[:ERROR_BODY_LIMIT] + "..."
    return repr(text) if text else "(an empty body)"

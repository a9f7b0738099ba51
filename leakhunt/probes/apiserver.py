"""The API server's side of the conversation, read from its ``/metrics``.

kube-apiserver and leakhunt's simulator export the same metric names, so one
reader serves both: request counts by verb, resource and scope
(``apiserver_request_total``), watches registered per kind
(``apiserver_registered_watchers``) and long-running requests in flight
(``apiserver_longrunning_requests``). The soak conductor reads them between
cycles, in its own process, so that the HTTP traffic of the reading is never
counted against the controller's memory.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import kubernetes.client
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families
from urllib3.exceptions import HTTPError

from leakhunt.errors import AccessDenied, LeakhuntError, ServerGone

logger = logging.getLogger(__name__)

METRICS_TIMEOUT = 10.0
"""Seconds to wait for ``/metrics``; a busy real cluster can be slow to answer."""

REQUESTS_METRIC = "apiserver_request"
"""The family name of ``apiserver_request_total`` as the text parser reports it."""

WATCHERS_METRIC = "apiserver_registered_watchers"
LONGRUNNING_METRIC = "apiserver_longrunning_requests"

METRICS_ATTEMPTS = 3
"""Tries of ``/metrics`` before the server counts as gone: a real cluster's
load balancer may drop one connection without the server being down."""

RETRY_DELAY = 0.5
"""Seconds between two tries of ``/metrics``."""


RequestKey = tuple[str, str, str]
"""(verb, resource, scope) of a request counter, e.g. ("WATCH", "pods", "cluster")."""


@dataclass(frozen=True)
class ServerReading:
    """One reading of the API server's metrics.

    ``requests`` holds cumulative counters, so the traffic of one cycle is the
    difference between two readings (:meth:`requests_since`).
    """

    requests: Counter[RequestKey] = field(default_factory=Counter)
    registered_watchers: int = 0
    longrunning_watches: int = 0

    def requests_since(self, earlier: ServerReading) -> Counter[RequestKey]:
        """Requests made between ``earlier`` and this reading, by key."""
        delta = Counter(self.requests)
        delta.subtract(earlier.requests)
        return +delta


def parse_metrics(text: str) -> ServerReading:
    """Read the request counters and watch gauges out of Prometheus text."""
    requests: Counter[RequestKey] = Counter()
    watchers = 0.0
    longrunning = 0.0

    for family in text_string_to_metric_families(text):
        if family.name == REQUESTS_METRIC:
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = sample.labels
                key = (
                    labels.get("verb", "").upper(),
                    labels.get("resource", ""),
                    labels.get("scope", ""),
                )
                requests[key] += int(sample.value)
        elif family.name == WATCHERS_METRIC:
            watchers += sum(sample.value for sample in family.samples)
        elif family.name == LONGRUNNING_METRIC:
            longrunning += sum(
                sample.value
                for sample in family.samples
                if sample.labels.get("verb", "").upper() == "WATCH"
            )

    return ServerReading(
        requests=requests,
        registered_watchers=int(watchers),
        longrunning_watches=int(longrunning),
    )


class ApiServerProbe:
    """Reads ``/metrics`` from the API server described by a configuration.

    It owns one :class:`kubernetes.client.ApiClient` for its whole life, so
    that reading between cycles opens no new connections; :meth:`close`
    releases it.
    """

    def __init__(self, configuration: kubernetes.client.Configuration) -> None:
        # NB: urllib3 would log a warning per retry; the probe retries itself.
        quiet = copy.copy(configuration)
        quiet.retries = False
        self._client = kubernetes.client.ApiClient(quiet)
        self._host = configuration.host

    def read(self) -> ServerReading:
        """Fetch and parse ``/metrics`` now.

        A server that does not answer is asked again, up to
        :data:`METRICS_ATTEMPTS` times, before it counts as gone.
        """
        for _ in range(METRICS_ATTEMPTS - 1):
            try:
                return self._read()
            except ServerGone as exc:
                logger.info("%s; asking again.", exc)
                time.sleep(RETRY_DELAY)
        return self._read()

    def _read(self) -> ServerReading:
        method, url, headers, body, _ = self._client.param_serialize(
            "GET",
            "/metrics",
            header_params={"Accept": "text/plain"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(
                method,
                url,
                header_params=headers,
                body=body,
                _request_timeout=METRICS_TIMEOUT,
            )
            response.read()
        except ApiException as exc:
            raise _refused(self._host, exc.status) from exc
        except (HTTPError, OSError) as exc:
            raise ServerGone(self._host, _short(exc)) from exc
        if response.status != 200:
            raise _refused(self._host, response.status)
        return parse_metrics((response.data or b"").decode("utf-8", errors="replace"))

    def close(self) -> None:
        """Release the client and its connections."""
        self._client.close()


def _refused(host: str, status: int | None) -> LeakhuntError:
    """The one-line error for an answer other than 200 to ``GET /metrics``."""
    if status == 401:
        return AccessDenied(
            f"the API server at {host} answered GET /metrics with 401 Unauthorized;"
            " check the token or credentials of the kubeconfig's user"
        )
    if status == 403:
        return AccessDenied(
            f"the API server at {host} answered GET /metrics with 403 Forbidden;"
            " leakhunt needs the 'get' verb on the /metrics non-resource URL"
            " (a ClusterRole rule: nonResourceURLs: [/metrics], verbs: [get])"
        )
    return LeakhuntError(
        f"the API server at {host} answered GET /metrics with HTTP {status}; "
        "leakhunt reads the server's side of each cycle from it"
    )


def _short(exc: BaseException) -> str:
    """The first line of an error, without urllib3's repr of the connection."""
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc)
    text = text.splitlines()[0] if text else type(exc).__name__
    if text.startswith(("HTTPConnection(", "HTTPSConnection(")):
        text = text.partition("): ")[2] or text
    return text

"""Faults the server injects into API requests on demand: latency and errors.

A :class:`Faults` object is consulted once per API request (discovery and
resources; never the control endpoints or ``/metrics``). The workload's fault
injection sets it through the control endpoint; tests may set it directly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from harness.apiserver.status import ApiError

logger = logging.getLogger(__name__)

FAULT_CODES = {
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    500: (
        "InternalError",
        "an error on the server has prevented the request from succeeding",
    ),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}
"""The error codes the server can be told to answer, with kube's reason for each."""


@dataclass(slots=True)
class Faults:
    """Faults is the latency and forced errors applied to API requests now."""

    latency: float = 0.0
    """Seconds added before answering each API request."""
    error_code: int | None = None
    error_until: float = 0.0
    """When forced errors stop (time.monotonic())."""
    error_requests: int | None = None
    """How many more requests get the error; None for all until error_until."""
    retry_after: int = 1

    def fail(self, code: int, seconds: float, requests: int | None = None) -> None:
        """Answer API requests with ``code`` for a while, or for a number of them."""
        if code not in FAULT_CODES:
            accepted = ", ".join(str(c) for c in FAULT_CODES)
            raise ValueError(f"expected an error code among {accepted}, got {code}")
        self.error_code = code
        self.error_until = time.monotonic() + seconds
        self.error_requests = requests
        logger.info(
            "API requests now fail with %d for %.1f s (%s requests).",
            code,
            seconds,
            "all" if requests is None else requests,
        )

    def clear(self) -> None:
        """Stop every fault."""
        self.latency = 0.0
        self.error_code = None
        self.error_requests = None

    def error(self) -> ApiError | None:
        """Return the error to answer this request with, if one is due."""
        if self.error_code is None:
            return None
        if time.monotonic() >= self.error_until or self.error_requests == 0:
            self.error_code = None
            return None
        if self.error_requests is not None:
            self.error_requests -= 1

        reason, message = FAULT_CODES[self.error_code]
        return ApiError(self.error_code, reason, message)

    def describe(self) -> dict[str, object]:
        """Return the faults in force, as the control endpoint shows them."""
        active = self.error_code is not None and time.monotonic() < self.error_until
        return {
            "latencySeconds": self.latency,
            "errorCode": self.error_code if active else None,
            "errorSecondsLeft": max(0.0, self.error_until - time.monotonic())
            if active
            else 0.0,
            "errorRequestsLeft": self.error_requests if active else None,
        }

"""The control surface of the API server that scenarios drive."""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)


@runtime_checkable
class ServerControl(Protocol):
    """ServerControl is how a scenario drives the API server under test.

    The simulator's control client implements it; a real cluster may
    implement only part of it, in which case the scenarios that need the
    missing part are not offered. Every method returns once the server has
    acted, so a scenario can rely on the effect having happened.
    """

    def start_churn(self, namespace: str, rate: float | None = None) -> None:
        """Start creating, updating and deleting objects in ``namespace``.

        ``rate`` is in operations per second, or None for the control's own
        default (the soak's ``--churn``); the churned objects carry the seeded
        objects' label, so a controller scoped by it sees them.
        """

    def stop_churn(self) -> None:
        """Stop the churn started by :meth:`start_churn` (a no-op if none)."""

    def expire_watches(self) -> None:
        """End every open watch with a ``410 Gone`` error event.

        A client then has to re-list: its resourceVersion is too old.
        """

    def drop_watches(self) -> None:
        """Close every open watch's connection without an error event."""

    def set_latency(self, seconds: float) -> None:
        """Delay every response by ``seconds`` (0 turns the delay off)."""

    def open_watches(self) -> list[dict[str, Any]]:
        """List the watches open on the server now.

        Each entry carries at least ``peer``: the client's address as the
        server sees it, as ``"host:port"`` (or ``[host, port]``). Entries
        should also carry ``id`` (unique per watch), ``url`` and ``since``
        (when it opened), which tell apart two watches sent one after the other
        over the same connection; ``user_agent`` and anything else is passed
        through untouched.
        """
        ...

"""What a reference controller reads from the context the harness hands it.

These are structural types: any object with these attributes will do, so the
controllers work with the lifecycle harness's context as well as with a
hand-made one in a test or a script.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Protocol

from kubernetes.client import Configuration

logger = logging.getLogger(__name__)


class _Context(Protocol):
    """What every controller's context carries, whatever its stop signal."""

    @property
    def configuration(self) -> Configuration:
        """Client configuration for the target API server."""
        ...

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig file for the same server, for clients that want one."""
        ...

    @property
    def namespace(self) -> str:
        """The namespace the controller watches and reconciles."""
        ...

    @property
    def cycle(self) -> int:
        """The number of the current cycle, counting from zero."""
        ...

    @property
    def label_selector(self) -> str | None:
        """The label selector that picks the seeded objects, if any."""
        ...


class ControllerContext(_Context, Protocol):
    """The context of a threaded controller: the server, the scope, the stop signal."""

    @property
    def stop(self) -> threading.Event:
        """Set when the controller has been asked to stop."""
        ...


class AsyncControllerContext(_Context, Protocol):
    """The context of an asyncio controller; ``stop`` is an asyncio.Event."""

    @property
    def stop(self) -> asyncio.Event:
        """Set when the controller has been asked to stop."""
        ...

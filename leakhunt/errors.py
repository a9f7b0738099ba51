"""The small error hierarchy of leakhunt.

The command line catches :class:`LeakhuntError` (and the harness's own
:class:`harness.errors.HarnessError`) and prints one line; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

from harness.errors import EXIT_RUN_FAILED, EXIT_USAGE


class LeakhuntError(Exception):
    """Base of every error leakhunt raises on purpose."""

    exit_code: int = EXIT_RUN_FAILED


class UsageError(LeakhuntError):
    """An option or argument outside what leakhunt accepts.

    The message names the value and says what would be accepted instead.
    """

    exit_code = EXIT_USAGE


class AccessDenied(LeakhuntError):
    """The API server refused leakhunt's credentials (401) or forbade one of
    its requests (403).

    A usage error: the kubeconfig's user, or its RBAC, is what needs fixing.
    The message names the verb, the resource and the permission needed.
    """

    exit_code = EXIT_USAGE


class ServerGone(LeakhuntError):
    """The API server at ``host`` stopped answering, for ``reason``."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"the API server at {host} stopped answering: {reason}")
        self.host = host
        self.reason = reason

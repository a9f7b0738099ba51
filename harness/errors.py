"""Errors the harness reports to whoever drives it.

Each error carries the exit code a command-line front end should use, so the
caller can print one line and exit without a traceback.
"""

from __future__ import annotations

EXIT_USAGE = 2
"""Bad input: a target, option or file the user can fix."""

EXIT_RUN_FAILED = 3
"""The run itself failed: a server or process could not start or be reached."""


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code: int = EXIT_RUN_FAILED


class ConfigurationError(HarnessError):
    """A target, kubeconfig, context or option that cannot be used as given."""

    exit_code = EXIT_USAGE


class ServerError(HarnessError):
    """An API server that could not be started or reached."""

    exit_code = EXIT_RUN_FAILED

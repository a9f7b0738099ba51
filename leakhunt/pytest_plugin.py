"""The leakhunt pytest plugin: markers, fixtures and options.

Registered through the ``pytest11`` entry point so that installing leakhunt is
enough to use it.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Declare leakhunt's markers so ``--strict-markers`` accepts them."""
    config.addinivalue_line(
        "markers",
        "leakhunt(cycles=30, warmup=None): run the test's body through "
        "leakhunt's cycle runner and fail it when anything grows",
    )

"""Fixtures of the workload tests: a simulator of their own, and its control.

Churn, faults and dropped or expired watches act on the whole server, so the
tests here do not share the session's simulator: each test module gets one of
its own (overriding ``simulator``, which the parent fixtures ``core``,
``namespace`` and ``api_client`` then use), and each test leaves the churn
stopped and the latency off.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.apiserver.process import SimulatorProcess
from harness.workload.control import Control

SEEDED_PODS = 40
"""Pods the module's simulator is seeded with: 20 in each of two namespaces."""


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    """A simulator for this test module only: 40 pods in leakhunt-0 and -1."""
    with SimulatorProcess(objects=SEEDED_PODS, namespaces=2) as process:
        yield process


@pytest.fixture
def control(simulator: SimulatorProcess) -> Iterator[Control]:
    """The control client of the module's simulator, reset after the test."""
    control = Control.from_simulator(simulator)
    yield control
    control.stop_churn()
    control.set_latency(0.0)

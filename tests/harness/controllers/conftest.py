"""Fixtures for the reference controller tests: a seeded simulator and what it sees.

Every test runs real controllers with the real ``kubernetes`` client against
the simulator process. The ``world`` fixture hands out contexts and reads the
server's side of the conversation (open watches, the request audit) by the
user agent each controller sets; the ``reaper`` fixture stops whatever a
leaky controller left running, so one test's leak does not leak into the next.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from kubernetes.client import Configuration
from kubernetes.watch import Watch

from harness.apiserver.process import SimulatorProcess
from harness.controllers import apiclient_per_cycle, informer_registry
from harness.controllers.informer import PodInformer
from harness.controllers.workqueue import WorkQueue

logger = logging.getLogger(__name__)

SEEDED_PODS = 120
"""Pods seeded across the simulator's namespaces."""

NAMESPACES = 2
"""Namespaces the pods are seeded across; controllers are given the first."""

SELECTOR = "app=leakhunt"
"""The label every seeded pod carries."""

SETTLE_SECONDS = 0.3
"""Time for the server to notice a closed connection before it is checked."""


@dataclass
class ThreadContext:
    """The context of a threaded controller, as the harness builds it."""

    configuration: Configuration
    kubeconfig: Path
    namespace: str
    stop: threading.Event
    cycle: int
    label_selector: str | None = SELECTOR


@dataclass
class LoopContext:
    """The context of an asyncio controller, as the harness builds it."""

    configuration: Configuration
    kubeconfig: Path
    namespace: str
    stop: asyncio.Event
    cycle: int
    label_selector: str | None = SELECTOR


class World:
    """The simulator the controllers run against, seen from both ends."""

    def __init__(self, simulator: SimulatorProcess) -> None:
        self.simulator = simulator
        self.namespace = simulator.namespaces[0]
        self.pods_in_namespace = SEEDED_PODS // NAMESPACES

    def context(self, cycle: int = 0) -> ThreadContext:
        """A fresh context for cycle ``cycle``, with a configuration of its own."""
        return ThreadContext(
            configuration=self.simulator.configuration(),
            kubeconfig=self.simulator.kubeconfig,
            namespace=self.namespace,
            stop=threading.Event(),
            cycle=cycle,
        )

    def loop_context(self, cycle: int = 0) -> LoopContext:
        """A fresh context for an asyncio controller; call it on the loop."""
        return LoopContext(
            configuration=self.simulator.configuration(),
            kubeconfig=self.simulator.kubeconfig,
            namespace=self.namespace,
            stop=asyncio.Event(),
            cycle=cycle,
        )

    def watches(self, user_agent: str) -> list[dict[str, Any]]:
        """The watches open on the server from clients with ``user_agent``."""
        return [
            watch
            for watch in self.simulator.open_watches()
            if str(watch.get("userAgent", "")).startswith(user_agent)
        ]

    def requests(self, user_agent: str, verb: str) -> int:
        """How many ``verb`` requests clients with ``user_agent`` have made."""
        records = self.simulator.control("GET", "/audit")["items"]
        return sum(
            1
            for record in records
            if record["verb"] == verb
            and str(record["user_agent"]).startswith(user_agent)
        )

    def connections(self) -> int:
        """This process's TCP connections to the simulator, in any state."""
        port = int(self.simulator.url.rsplit(":", 1)[1])
        return sum(
            1
            for conn in psutil.Process().net_connections("tcp")
            if conn.raddr and conn.raddr.port == port
        )

    def settle(self) -> None:
        """Give the server time to notice connections this process closed."""
        time.sleep(SETTLE_SECONDS)

    @staticmethod
    def threads(prefix: str) -> list[threading.Thread]:
        """The live threads whose name starts with ``prefix``."""
        return threads_named(prefix)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()


def threads_named(prefix: str) -> list[threading.Thread]:
    """The live threads whose name starts with ``prefix``."""
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    """A simulator seeded with :data:`SEEDED_PODS` pods, shared by a test module."""
    with SimulatorProcess(objects=SEEDED_PODS, namespaces=NAMESPACES) as sim:
        yield sim


@pytest.fixture
def world(simulator: SimulatorProcess) -> World:
    """The simulator and what can be seen of it."""
    return World(simulator)


@pytest.fixture
def reaper() -> Iterator[None]:
    """Stop every informer, watch, worker and client a leaky controller left."""
    yield

    informer_registry._INFORMERS.clear()
    for api_client in apiclient_per_cycle._CLIENTS.values():
        api_client.close()
    apiclient_per_cycle._CLIENTS.clear()

    gc.collect()
    for obj in gc.get_objects():
        if isinstance(obj, PodInformer):
            obj.stop(timeout=1.0)
        elif isinstance(obj, WorkQueue):
            obj.shut_down()
        elif isinstance(obj, Watch):
            obj.stop()
    for thread in threads_named("leakhunt-") + threads_named("SharedInformer"):
        thread.join(2.0)
        if thread.is_alive():
            logger.warning("Thread %s outlived the reaper.", thread.name)

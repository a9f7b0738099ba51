"""Fixtures shared by the harness tests: one simulator for the whole session.

Starting the simulator costs a subprocess, so tests share one and keep out of
each other's way by working in a namespace of their own (:func:`namespace`).
Tests that change server-wide state (compaction, faults, dropped watches)
start their own :class:`~harness.apiserver.process.SimulatorProcess`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client
import pytest
from kubernetes import watch

from harness.apiserver.process import SimulatorProcess

SEEDED_PODS = 40
"""Pods the shared simulator is seeded with, across two namespaces."""

_namespace_numbers = itertools.count()


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorProcess]:
    """A simulator process shared by the session: 40 pods in leakhunt-0 and -1."""
    with SimulatorProcess(objects=SEEDED_PODS, namespaces=2) as process:
        yield process


@pytest.fixture
def api_client(
    simulator: SimulatorProcess,
) -> Iterator[kubernetes.client.ApiClient]:
    """A ``kubernetes`` API client for the shared simulator, closed afterwards."""
    with kubernetes.client.ApiClient(simulator.configuration()) as api:
        yield api


@pytest.fixture
def core(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    """The core/v1 API of the shared simulator."""
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core: kubernetes.client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace of the shared simulator, deleted after the test."""
    name = f"test-{next(_namespace_numbers)}"
    core.create_namespace(
        kubernetes.client.V1Namespace(
            metadata=kubernetes.client.V1ObjectMeta(name=name)
        )
    )
    yield name
    core.delete_namespace(name)


def _collect(
    list_call: Callable[..., Any], *args: Any, **kwargs: Any
) -> list[dict[str, Any]]:
    kwargs.setdefault("timeout_seconds", 1)
    watcher = watch.Watch()
    stream = watcher.stream(list_call, *args, **kwargs)
    return list(stream)


@pytest.fixture
def watch_events() -> Callable[..., list[dict[str, Any]]]:
    """Watch with ``kubernetes.watch.Watch`` until the stream ends (after 1 s
    unless ``timeout_seconds`` says otherwise); return every event it gave."""
    return _collect

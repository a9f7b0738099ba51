"""The client's side of watches: responses left open, and their sockets.

Real clients (the official one on urllib3, kubernetes_asyncio on aiohttp)
open real watches on the simulator process.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any, cast

import aiohttp
import kubernetes.client
import pytest
import urllib3
import urllib3.connection
from kubernetes_asyncio import client as async_client
from kubernetes_asyncio import config as async_config

from harness.apiserver.process import SimulatorProcess
from leakhunt.probes.watches import CLIENT_WATCHES_SIGNAL, ServerSocketsProbe

NAMESPACE = "leakhunt-0"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(objects=4) as sim:
        yield sim


@pytest.fixture
def probe(simulator: SimulatorProcess) -> Iterator[ServerSocketsProbe]:
    probe = ServerSocketsProbe(simulator.url)
    probe.start()
    yield probe
    probe.stop()


def open_pods(api: kubernetes.client.ApiClient, **query: Any) -> Any:
    """The raw response to a LIST (or, with ``watch=True``, a WATCH) of pods."""
    response = kubernetes.client.CoreV1Api(api).list_namespaced_pod(
        NAMESPACE, _preload_content=False, **query
    )
    return cast(urllib3.BaseHTTPResponse, response)


def open_watches(probe: ServerSocketsProbe) -> float:
    return probe.sample()[CLIENT_WATCHES_SIGNAL]


def test_a_watch_the_official_client_leaves_open_is_counted_until_closed(
    simulator: SimulatorProcess, probe: ServerSocketsProbe
) -> None:
    with kubernetes.client.ApiClient(simulator.configuration()) as api:
        open_pods(api).read()
        watch = open_pods(api, watch=True, timeout_seconds=30)

        left_open = open_watches(probe)
        details: Any = probe.details()
        watch.close()
        closed = open_watches(probe)

    assert left_open == 1
    assert closed == 0
    [listed] = details["client_watches"]
    assert f"/api/v1/namespaces/{NAMESPACE}/pods" in listed["url"]
    assert "watch=" in listed["url"]
    port = simulator.url.rsplit(":", 1)[1]
    assert listed["socket"].endswith(f"-> 127.0.0.1:{port}")
    assert listed["socket"] in details["api_connections"]


def test_a_watch_kubernetes_asyncio_leaves_open_is_counted_with_its_socket(
    simulator: SimulatorProcess, probe: ServerSocketsProbe
) -> None:
    async def watch_and_look() -> tuple[float, Any, float]:
        configuration = async_client.Configuration()
        await async_config.load_kube_config(
            config_file=str(simulator.kubeconfig),
            client_configuration=configuration,
            persist_config=False,
        )
        async with async_client.ApiClient(configuration) as api:
            pods = async_client.CoreV1Api(api)
            response = cast(
                aiohttp.ClientResponse,
                await pods.list_namespaced_pod(
                    NAMESPACE, watch=True, timeout_seconds=30, _preload_content=False
                ),
            )
            left_open = open_watches(probe)
            details = probe.details()
            response.close()
            return left_open, details, open_watches(probe)

    left_open, details, closed = asyncio.run(watch_and_look())

    assert (left_open, closed) == (1, 0)
    [listed] = details["client_watches"]
    assert "watch=" in listed["url"]
    assert listed["socket"].endswith(simulator.url.rsplit(":", 1)[1])


def test_requests_that_are_not_watches_are_not_counted(
    simulator: SimulatorProcess, probe: ServerSocketsProbe
) -> None:
    with kubernetes.client.ApiClient(simulator.configuration()) as api:
        response = open_pods(api)

        assert open_watches(probe) == 0
        response.close()


def test_the_probe_keeps_no_watch_response_alive(
    simulator: SimulatorProcess, probe: ServerSocketsProbe
) -> None:
    with kubernetes.client.ApiClient(simulator.configuration()) as api:
        watch = open_pods(api, watch=True, timeout_seconds=30)
        watch.release_conn()
        gone = weakref.ref(watch)
        del watch
        gc.collect()

    assert gone() is None
    assert open_watches(probe) == 0


def test_a_stopped_probe_puts_the_clients_back_as_they_were(
    simulator: SimulatorProcess,
) -> None:
    original = urllib3.connection.HTTPConnection.getresponse
    probe = ServerSocketsProbe(simulator.url)

    probe.start()
    wrapped = urllib3.connection.HTTPConnection.getresponse
    probe.stop()

    assert wrapped is not original
    assert urllib3.connection.HTTPConnection.getresponse is original

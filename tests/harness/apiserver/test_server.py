"""The Simulator: the seams churn and faults build on, and what no request,
however malformed its headers, can break."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import urllib3
from aiohttp import web

from harness.apiserver.process import SimulatorProcess
from harness.apiserver.resources import NAMESPACES
from harness.apiserver.server import Simulator

Raw = Callable[..., tuple[int, Any]]

NOT_UTF_8 = "agent \xff\xfe"
"""A header value sent as bytes that are not UTF-8 (http.client sends latin-1)."""


async def _exercise_seams() -> tuple[Any, int, bool, int]:
    simulator = Simulator()
    store = simulator.store
    store.create(NAMESPACES, "", {"metadata": {"name": "busy"}})
    configmaps = store.registry.lookup("", "v1", "configmaps")
    assert configmaps is not None

    async def churn() -> None:
        index = 0
        while True:
            store.create(configmaps, "busy", {"metadata": {"name": f"c-{index}"}})
            index += 1
            await asyncio.sleep(0.01)

    async def churned(sim: Simulator, request: web.Request) -> Any:
        return {"objects": sim.store.count(configmaps)}

    simulator.control_routes[("GET", "/objects")] = churned
    url = await simulator.start()
    task = simulator.run_in_background(churn(), "churn")
    await asyncio.sleep(0.2)

    headers = {"Authorization": f"Bearer {simulator.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(f"{url}/leakhunt/v1/objects") as reply,
    ):
        document = await reply.json()
    await simulator.stop()
    return document, reply.status, task.cancelled(), store.count(configmaps)


def test_background_tasks_and_extra_control_routes_live_with_the_server() -> None:
    document, status, cancelled, final = asyncio.run(_exercise_seams())

    assert status == 200
    assert document["objects"] > 3
    assert cancelled
    assert final >= document["objects"]


def test_a_token_that_is_not_utf_8_is_401_with_a_status(raw: Raw) -> None:
    status, document = raw(
        "GET", "/api/v1/pods", headers={"Authorization": f"Bearer {NOT_UTF_8}"}
    )

    assert (status, document["kind"], document["reason"]) == (
        401,
        "Status",
        "Unauthorized",
    )


def test_a_user_agent_that_is_not_utf_8_leaves_audit_metrics_and_watches_readable(
    simulator: SimulatorProcess, raw: Raw
) -> None:
    agent = {"Authorization": f"Bearer {simulator.token}", "User-Agent": NOT_UTF_8}
    watching = threading.Thread(
        target=urllib3.request,
        args=("GET", f"{simulator.url}/api/v1/nodes?watch=1&timeoutSeconds=2"),
        kwargs={"headers": agent},
    )
    watching.start()

    listed, _ = raw("GET", "/api/v1/namespaces/leakhunt-0/pods", headers=agent)
    audited = simulator.control("GET", "/audit?limit=1")["items"]
    metrics = urllib3.request(
        "GET",
        f"{simulator.url}/metrics",
        headers={"Authorization": f"Bearer {simulator.token}"},
    )
    deadline = time.monotonic() + 10
    while not _watching_nodes(simulator) and time.monotonic() < deadline:
        time.sleep(0.02)
    watches = _watching_nodes(simulator)
    watching.join()

    assert listed == 200
    assert audited[0]["user_agent"] == "agent \ufffd\ufffd"
    assert metrics.status == 200
    assert [w["userAgent"] for w in watches] == ["agent \ufffd\ufffd"]


def _watching_nodes(simulator: SimulatorProcess) -> list[dict[str, Any]]:
    return [w for w in simulator.open_watches() if w["resource"] == "nodes"]

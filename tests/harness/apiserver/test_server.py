"""The Simulator in one event loop: the seams churn and faults build on."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from harness.apiserver.resources import NAMESPACES
from harness.apiserver.server import Simulator


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

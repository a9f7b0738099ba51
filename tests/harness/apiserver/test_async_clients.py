"""Asynchronous clients against the simulator: kubernetes_asyncio and kopf."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as async_client
from kubernetes_asyncio import config as async_config
from kubernetes_asyncio import watch as async_watch

from harness.apiserver.process import SimulatorProcess

OPERATOR = """\
import kopf

@kopf.on.create("configmaps", labels={"kopf-test": "yes"})
def created(name, **_):
    print("handled create", name, flush=True)

@kopf.on.update("configmaps", labels={"kopf-test": "yes"})
def updated(name, **_):
    print("handled update", name, flush=True)

@kopf.on.delete("configmaps", labels={"kopf-test": "yes"})
def deleted(name, **_):
    print("handled delete", name, flush=True)
"""


async def _list_then_watch(simulator: SimulatorProcess, namespace: str) -> list[str]:
    configuration = async_client.Configuration()
    await async_config.load_kube_config(
        config_file=str(simulator.kubeconfig), client_configuration=configuration
    )
    async with async_client.ApiClient(configuration) as api:
        core: Any = async_client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map(namespace)
        await core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "from-asyncio"}}
        )
        seen = []
        watcher: Any = async_watch.Watch()
        async with watcher.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        ) as stream:
            async for event in stream:
                seen.append(f"{event['type']} {event['object'].metadata.name}")
        return seen


def test_kubernetes_asyncio_lists_creates_and_watches(
    simulator: SimulatorProcess, namespace: str
) -> None:
    seen = asyncio.run(_list_then_watch(simulator, namespace))

    assert seen == ["ADDED from-asyncio"]


def _wait_for_line(path: Path, line: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if line in path.read_text():
            return True
        time.sleep(0.1)
    return False


def test_a_kopf_operator_handles_create_update_and_delete(
    simulator: SimulatorProcess, core: Any, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "operator.py").write_text(OPERATOR)
    output = tmp_path / "operator.log"
    with output.open("w") as log:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                str(tmp_path / "operator.py"),
                "--standalone",
                f"--namespace={namespace}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(simulator.kubeconfig)},
        )
    try:
        body = {"metadata": {"name": "k", "labels": {"kopf-test": "yes"}}}
        core.create_namespaced_config_map(namespace, body)
        assert _wait_for_line(output, "handled create k"), output.read_text()

        core.patch_namespaced_config_map("k", namespace, {"data": {"a": "1"}})
        assert _wait_for_line(output, "handled update k"), output.read_text()

        core.delete_namespaced_config_map("k", namespace)
        assert _wait_for_line(output, "handled delete k"), output.read_text()
    finally:
        operator.terminate()
        operator.wait(30)

    # kopf's finalizer held the object until its delete handler had run.
    remaining = core.list_namespaced_config_map(namespace).items
    assert [cm.metadata.name for cm in remaining] == []

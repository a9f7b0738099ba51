"""The kopf operator logs in from the context, handles pods and stops cleanly."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import kopf
import kubernetes.config
import pytest
from kubernetes.client import ApiClient, Configuration, CoreV1Api

from harness.controllers import kopf_operator

AGENT = "kopf/"

KOPF_ANNOTATION = "kopf.zalando.org/"


def test_a_label_selector_becomes_kopf_label_filters() -> None:
    assert kopf_operator.parse_labels("app=leakhunt, tier==web") == {
        "app": "leakhunt",
        "tier": "web",
    }
    assert kopf_operator.parse_labels(None) == {}


def test_a_set_based_selector_is_refused_with_what_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"key=value terms.*'app in"):
        kopf_operator.parse_labels("app in (a,b)")


def test_the_login_uses_the_server_and_token_of_the_configuration() -> None:
    configuration = Configuration(
        host="https://127.0.0.1:6443",
        api_key={"authorization": "sekret"},
        api_key_prefix={"authorization": "Bearer"},
    )

    info = kopf_operator.connection_info(configuration)

    assert info.server == "https://127.0.0.1:6443"
    assert (info.scheme, info.token) == ("Bearer", "sekret")


def test_the_login_reads_the_token_as_a_kubeconfig_loads_it(world: Any) -> None:
    configuration = Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(world.simulator.kubeconfig),
        client_configuration=configuration,
        persist_config=False,
    )

    info = kopf_operator.connection_info(configuration)

    assert info.server == world.simulator.url
    assert (info.scheme, info.token) == ("Bearer", world.simulator.token)


def handled_pods(world: Any) -> int:
    """Pods of the test namespace that kopf has marked as handled."""
    with ApiClient(world.simulator.configuration()) as api_client:
        pods = CoreV1Api(api_client).list_namespaced_pod(world.namespace)
    return sum(
        1
        for pod in pods.items
        if any(
            key.startswith(KOPF_ANNOTATION)
            for key in ((pod.metadata.annotations if pod.metadata else None) or {})
        )
    )


def pod_watches(world: Any) -> list[dict[str, Any]]:
    return [w for w in world.watches(AGENT) if w.get("resource") == "pods"]


async def run_operator(world: Any, wait_for_pods: bool) -> tuple[float, list[str]]:
    ctx = world.loop_context()
    task = asyncio.create_task(kopf_operator.controller(ctx))
    if wait_for_pods:
        await asyncio.to_thread(world.wait_for, lambda: bool(pod_watches(world)), 15.0)
        await asyncio.to_thread(world.wait_for, lambda: handled_pods(world) > 0, 15.0)
    else:
        await asyncio.sleep(0.1)

    ctx.stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, kopf_operator.LEFTOVER_GRACE_SECONDS + 5.0)
    took = time.monotonic() - started

    current = asyncio.current_task()
    return took, [t.get_name() for t in asyncio.all_tasks() if t is not current]


def test_the_operator_handles_pods_and_stops_with_nothing_left(world: Any) -> None:
    before = set(threading.enumerate())

    took, pending = asyncio.run(run_operator(world, wait_for_pods=True))

    assert handled_pods(world) > 0
    assert took < 2.0
    assert pending == []
    assert set(threading.enumerate()) <= before
    world.settle()
    assert not world.watches(AGENT)


def test_a_stop_during_startup_still_returns_promptly(world: Any) -> None:
    took, pending = asyncio.run(run_operator(world, wait_for_pods=False))

    assert took < kopf_operator.STOP_GRACE_SECONDS + 1.5
    assert pending == []
    world.settle()
    assert not world.watches(AGENT)


def test_tasks_kopf_leaves_running_after_its_operator_returns_are_ended(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cancelled while busy on a loaded machine, kopf.operator returns while
    # tasks it started still run; this stands in for it, deterministically.
    left: list[asyncio.Task[None]] = []

    async def operator_that_leaves_tasks(**options: Any) -> None:
        left.append(asyncio.create_task(asyncio.sleep(0.2), name="kopf-finishing"))
        left.append(asyncio.create_task(asyncio.sleep(3600), name="kopf-stuck"))
        await options["stop_flag"].wait()

    monkeypatch.setattr(kopf, "operator", operator_that_leaves_tasks)
    monkeypatch.setattr(kopf_operator, "LEFTOVER_GRACE_SECONDS", 0.5)

    took, pending = asyncio.run(run_operator(world, wait_for_pods=False))

    assert pending == []
    assert [task.cancelled() for task in left] == [False, True]
    assert took < 0.5 + 1.0

"""SimulatorProcess: start, describe, fail clearly, always stop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import urllib3

from harness.apiserver.process import SimulatorProcess
from harness.errors import ServerError


def test_the_process_seeds_writes_its_kubeconfig_and_stops(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "leakhunt.kubeconfig"
    process = SimulatorProcess(objects=12, namespaces=3, kubeconfig=kubeconfig)

    with process:
        pid = process.pid
        with kubernetes.client.ApiClient(process.configuration()) as api:
            core: Any = kubernetes.client.CoreV1Api(api)
            pods = core.list_pod_for_all_namespaces()
            namespaces = core.list_namespace()

        assert process.url.startswith("http://127.0.0.1:")
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        assert process.namespaces == ["leakhunt-0", "leakhunt-1", "leakhunt-2"]
        assert len(pods.items) == 12
        names = {ns.metadata.name for ns in namespaces.items}
        assert names == {"default", "kube-system", *process.namespaces}

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_largest_store_a_soak_seeds_is_served_within_its_start_deadline() -> None:
    # 100,000 pods: the most `leakhunt soak --objects` accepts.
    process = SimulatorProcess(objects=100_000, namespaces=10)

    with process, kubernetes.client.ApiClient(process.configuration()) as api:
        core: Any = kubernetes.client.CoreV1Api(api)
        pods = core.list_namespaced_pod("leakhunt-9", limit=1)

        assert pods.metadata.remaining_item_count == 10_000 - 1


def test_a_simulator_that_cannot_start_raises_with_its_stderr() -> None:
    process = SimulatorProcess(extra_args=("--compaction-window", "soon"))

    with pytest.raises(ServerError, match="expected a duration such as 30s"):
        process.start()


def test_seeded_pods_are_about_5_kb_of_json_as_the_docs_say(
    simulator: SimulatorProcess,
) -> None:
    response = urllib3.request(
        "GET",
        f"{simulator.url}/api/v1/namespaces/leakhunt-0/pods/pod-0",
        headers={"Authorization": f"Bearer {simulator.token}"},
    )

    assert response.status == 200
    assert 4_500 <= len(response.data) <= 5_500

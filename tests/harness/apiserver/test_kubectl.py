"""kubectl 1.32 against the simulator: get, apply, delete, get -w, CRDs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.apiserver.process import SimulatorProcess

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not on PATH"
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: leakhunt-0
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: leakhunt-0
data:
  level: "REPLACE"
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.leakhunt.dev
spec:
  group: leakhunt.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

WIDGET = """\
apiVersion: leakhunt.dev/v1
kind: Widget
metadata: {name: gizmo, namespace: leakhunt-0}
spec: {size: 3}
"""

WATCHED = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: watched, namespace: leakhunt-1}
"""


@pytest.fixture(scope="module")
def tls_simulator() -> Iterator[SimulatorProcess]:
    """A simulator serving TLS, since kubectl sends a token only over TLS."""
    with SimulatorProcess(objects=6, namespaces=2, tls=True) as process:
        yield process


@pytest.fixture
def kubectl(tls_simulator: SimulatorProcess, tmp_path: Path) -> list[str]:
    """The kubectl command, pointed at the simulator, with a cache of its own."""
    return [
        "kubectl",
        f"--kubeconfig={tls_simulator.kubeconfig}",
        f"--cache-dir={tmp_path / 'cache'}",
    ]


def _run(command: list[str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": ""},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kubectl_get_pods_in_all_namespaces_shows_the_seeded_pods(
    kubectl: list[str],
) -> None:
    output = _run(kubectl, "get", "pods", "-A")

    lines = output.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
    ]
    rows = [line.split()[:4] for line in lines[1:]]
    assert ["leakhunt-0", "pod-0", "2/2", "Running"] in rows
    assert ["leakhunt-1", "pod-5", "2/2", "Running"] in rows
    assert len(rows) == 6


def test_kubectl_get_with_a_label_selector_prints_only_matching_pods(
    kubectl: list[str],
) -> None:
    output = _run(
        kubectl, "get", "pods", "-A", "-l", "leakhunt.dev/shard=1", "-o", "name"
    )

    assert sorted(output.split()) == ["pod/pod-1", "pod/pod-5"]


def test_kubectl_apply_creates_then_updates_then_leaves_unchanged(
    kubectl: list[str], tmp_path: Path
) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(DEPLOYMENT.replace("REPLACE", "info"))
    first = _run(kubectl, "apply", "-f", str(manifest))
    manifest.write_text(DEPLOYMENT.replace("REPLACE", "debug"))
    second = _run(kubectl, "apply", "-f", str(manifest))
    third = _run(kubectl, "apply", "-f", str(manifest))

    assert first.split("\n")[:2] == [
        "deployment.apps/web created",
        "configmap/settings created",
    ]
    assert "configmap/settings configured" in second
    assert "deployment.apps/web unchanged" in second
    assert "configmap/settings unchanged" in third
    level = _run(
        kubectl,
        "get",
        "configmap",
        "settings",
        "-n",
        "leakhunt-0",
        "-o",
        "jsonpath={.data.level}",
    )
    assert level == "debug"

    deleted = _run(kubectl, "delete", "-f", str(manifest))
    assert deleted.split("\n")[:2] == [
        'deployment.apps "web" deleted',
        'configmap "settings" deleted',
    ]
    remaining = _run(kubectl, "get", "deploy,cm", "-n", "leakhunt-0", "-o", "name")
    assert remaining == ""


def test_kubectl_serves_a_crd_and_then_its_custom_resources(
    kubectl: list[str], tmp_path: Path
) -> None:
    (tmp_path / "crd.yaml").write_text(CRD)
    (tmp_path / "widget.yaml").write_text(WIDGET)

    _run(kubectl, "apply", "-f", str(tmp_path / "crd.yaml"))
    _run(kubectl, "wait", "--for=condition=Established", "crd/widgets.leakhunt.dev")
    created = _run(kubectl, "apply", "-f", str(tmp_path / "widget.yaml"))
    listed = _run(kubectl, "get", "wg", "-n", "leakhunt-0", "-o", "name")
    _run(kubectl, "delete", "crd", "widgets.leakhunt.dev")
    resources = _run(kubectl, "api-resources", "--api-group=leakhunt.dev", "-o", "name")

    assert created.strip() == "widget.leakhunt.dev/gizmo created"
    assert listed.strip() == "widget.leakhunt.dev/gizmo"
    assert resources == ""


def test_kubectl_get_watch_prints_changes_as_they_happen(
    kubectl: list[str], tls_simulator: SimulatorProcess
) -> None:
    watcher = subprocess.Popen(
        [*kubectl, "get", "configmaps", "-n", "leakhunt-1", "-w", "-o", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not tls_simulator.open_watches():
            time.sleep(0.05)
        _run(kubectl, "create", "-f", "-", stdin=WATCHED)
        _run(kubectl, "delete", "configmap", "watched", "-n", "leakhunt-1")
        time.sleep(0.5)
    finally:
        watcher.terminate()
        output, _ = watcher.communicate(timeout=10)

    assert output.split() == ["configmap/watched", "configmap/watched"]


def test_kubectl_without_the_token_is_unauthorized(
    tls_simulator: SimulatorProcess, tmp_path: Path
) -> None:
    config = tls_simulator.kubeconfig.read_text()
    stolen = tmp_path / "no-token.kubeconfig"
    stolen.write_text(config.replace(tls_simulator.token, "wrong-token"))

    result = subprocess.run(
        ["kubectl", f"--kubeconfig={stolen}", "get", "pods"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "provide credentials" in result.stderr

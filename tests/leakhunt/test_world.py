"""The world of a soak on a real cluster: what leakhunt says when the cluster
refuses it, and that its namespace never stays behind unannounced.

A real HTTP server on loopback plays the cluster (``refusing_cluster``); the
simulator plays one that rejects a wrong token.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from harness.apiserver.process import SimulatorProcess
from harness.errors import EXIT_USAGE
from leakhunt.errors import AccessDenied
from leakhunt.soak import SoakOptions
from leakhunt.world import open_world

NAMESPACES = "/api/v1/namespaces"


def open_and_close(options: SoakOptions) -> None:
    """Set up the world of a soak and take it down again."""
    with open_world(options):
        pass


def options(kubeconfig: Path, tmp_path: Path) -> SoakOptions:
    return SoakOptions(
        target="x:y", kubeconfig=kubeconfig, objects=2, log_dir=tmp_path / "run"
    )


def test_a_cluster_that_forbids_creating_namespaces_names_the_rbac_it_needs(
    tmp_path: Path, refusing_cluster: Any
) -> None:
    cluster = refusing_cluster()
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")

    with pytest.raises(AccessDenied) as caught:
        open_and_close(options(kubeconfig, tmp_path))

    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert "\n" not in message
    assert f"the API server at {cluster.url} answered 403 Forbidden" in message
    assert "tried to create namespaces cluster-wide" in message
    assert "create and delete on namespaces, create on pods" in message


def test_a_cluster_that_forbids_seeding_pods_still_gets_its_namespace_deleted(
    tmp_path: Path, refusing_cluster: Any
) -> None:
    cluster = refusing_cluster(
        {("POST", NAMESPACES): 201, ("DELETE", f"{NAMESPACES}/"): 200}
    )
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")

    with pytest.raises(AccessDenied) as caught:
        open_and_close(options(kubeconfig, tmp_path))

    assert "tried to create pods in namespace leakhunt-" in str(caught.value)
    deleted = [path for method, path in cluster.requests if method == "DELETE"]
    assert len(deleted) == 1
    assert deleted[0].startswith(f"{NAMESPACES}/leakhunt-")


def test_a_namespace_that_cannot_be_deleted_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, refusing_cluster: Any
) -> None:
    cluster = refusing_cluster({("POST", NAMESPACES): 201})
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")

    with (
        caplog.at_level(logging.WARNING, logger="leakhunt.world"),
        pytest.raises(AccessDenied),
    ):
        open_and_close(options(kubeconfig, tmp_path))

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Namespace leakhunt-" in warnings[0]
    assert "is left behind" in warnings[0]
    assert "kubectl delete namespace leakhunt-" in warnings[0]


def test_a_token_the_cluster_rejects_is_called_unauthorized(tmp_path: Path) -> None:
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        kubeconfig = tmp_path / "wrong-token.kubeconfig"
        kubeconfig.write_text(
            cluster.kubeconfig.read_text().replace(cluster.token, "wrong-token")
        )

        with pytest.raises(AccessDenied) as caught:
            open_and_close(options(kubeconfig, tmp_path))

    message = str(caught.value)
    assert (
        "answered 401 Unauthorized when leakhunt tried to read its version" in message
    )
    assert "check the token or credentials of the kubeconfig's user" in message

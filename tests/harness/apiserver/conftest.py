"""Fixtures shared by the simulator's tests: a sample pod, deeply nested
objects, and requests sent by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
import pytest
import urllib3

from harness.apiserver.process import SimulatorProcess

Raw = Callable[..., tuple[int, Any]]
"""``raw(method, path, body=None, *, headers=None)``: (HTTP status, JSON body)."""


@pytest.fixture
def make_pod() -> Callable[[], dict[str, Any]]:
    """A factory of fresh pods with containers, volumes, finalizers, conditions."""
    return _pod


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "env": [{"name": "MODE", "value": "prod"}],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
                {"name": "proxy", "image": "proxy:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Initialized", "status": "True"},
            ],
        },
    }


@pytest.fixture
def make_nested() -> Callable[[int], dict[str, Any]]:
    """A factory of objects nesting ``{"a": ...}`` the given number of levels."""
    return _nested


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(levels - 1):
        node = {"a": node}
    return node


@pytest.fixture
def raw(simulator: SimulatorProcess) -> Raw:
    """Send one request by hand to the shared simulator, for what the clients
    cannot send or read; return the HTTP status and the decoded JSON body.

    The bearer token and a JSON Content-Type are sent unless ``headers`` says
    otherwise.
    """

    def send(
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = {
            "Authorization": f"Bearer {simulator.token}",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        response = urllib3.request(
            method, simulator.url + path, body=body, headers=sent, timeout=30
        )
        return response.status, orjson.loads(response.data)

    return send

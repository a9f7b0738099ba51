"""Seeding: realistic objects spread across namespaces before a run starts.

A seeded pod looks like one a kubelet has reported on: two containers with
resources, probes, environment and mounts, a Running status with conditions
and container statuses, about 5 KB of JSON, as a controller's cache would
hold in production. Every seeded object carries ``app: leakhunt`` and a
``leakhunt.dev/shard`` label (``"0"`` to ``"3"``) for selector tests.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.apiserver.resources import NAMESPACES
from harness.apiserver.store import Store

logger = logging.getLogger(__name__)

SHARDS = 4
"""Distinct values of the ``leakhunt.dev/shard`` label on seeded objects."""

NAMESPACE_PREFIX = "leakhunt-"
"""Seeded namespaces are ``leakhunt-0`` to ``leakhunt-{M-1}``."""


def namespace_names(count: int) -> list[str]:
    """Return the names of the ``count`` seeded namespaces."""
    return [f"{NAMESPACE_PREFIX}{index}" for index in range(count)]


def labels(index: int) -> dict[str, str]:
    """Return the labels of the seeded object number ``index``."""
    return {"app": "leakhunt", "leakhunt.dev/shard": str(index % SHARDS)}


def namespace(name: str) -> dict[str, Any]:
    """Return a Namespace object."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app": "leakhunt"}},
    }


def _container(name: str, image: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "POD_NAME",
                "valueFrom": {
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                },
            },
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
                },
            },
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": port, "scheme": "HTTP"},
            "periodSeconds": 5,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app", "readOnly": True},
            {
                "name": "kube-api-access",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            },
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _container_status(name: str, image: str, started: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": f"{image}@sha256:{'0' * 64}",
        "containerID": f"containerd://{'a' * 64}",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": started}},
        "lastState": {},
    }


def pod(name: str, namespace_name: str, index: int) -> dict[str, Any]:
    """Return a Running pod, about 5 KB of JSON, labelled for shard ``index % 4``."""
    started = "2026-01-01T00:00:00Z"
    node = f"node-{index % 8}"
    containers = [
        _container("app", "registry.example/leakhunt/app:1.4.2", 8080),
        _container("sidecar", "registry.example/leakhunt/proxy:0.9.1", 9090),
    ]
    conditions = [
        {
            "type": kind,
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": started,
        }
        for kind in (
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        )
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace_name,
            "labels": labels(index),
            "annotations": {
                "leakhunt.dev/seeded": "true",
                "kubectl.kubernetes.io/default-container": "app",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"leakhunt-{index % SHARDS}-5d8f7c9b6d",
                    "uid": f"00000000-0000-4000-8000-{index % SHARDS:012d}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": containers,
            "volumes": [
                {
                    "name": "config",
                    "configMap": {"name": "leakhunt-config", "defaultMode": 420},
                },
                {
                    "name": "kube-api-access",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "expirationSeconds": 3607,
                                    "path": "token",
                                }
                            },
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                        ],
                    },
                },
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": node,
            "schedulerName": "default-scheduler",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "fsGroup": 2000,
            },
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": f"10.0.0.{index % 8 + 10}",
            "podIP": f"10.244.{index // 250 % 250}.{index % 250 + 2}",
            "podIPs": [{"ip": f"10.244.{index // 250 % 250}.{index % 250 + 2}"}],
            "startTime": started,
            "containerStatuses": [
                _container_status(c["name"], c["image"], started) for c in containers
            ],
            "qosClass": "Burstable",
        },
    }


def seed(store: Store, *, objects: int, namespaces: int) -> list[str]:
    """Create the namespaces and ``objects`` pods spread across them.

    Returns the seeded namespaces' names. Pods keep their Running status,
    as if a kubelet had already reported on them.
    """
    names = namespace_names(namespaces)
    for name in names:
        if not store.namespace_exists(name):
            store.create(NAMESPACES, "", namespace(name))

    pods = store.registry.lookup("", "v1", "pods")
    assert pods is not None
    if objects and not names:
        raise ValueError(
            f"cannot seed {objects} pods into 0 namespaces; ask for 1 or more"
        )
    for index in range(objects):
        ns = names[index % len(names)]
        store.create(pods, ns, pod(f"pod-{index}", ns, index), keep_status=True)
    logger.info("Seeded %d pods across %d namespaces.", objects, len(names))
    return names

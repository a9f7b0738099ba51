"""The kubeconfig the simulator writes for its clients, written atomically."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

CONTEXT = "leakhunt"
"""The name of the cluster, user and context in the kubeconfig."""


def kubeconfig(url: str, token: str, namespace: str = "default") -> dict[str, Any]:
    """Return a kubeconfig that points kubectl and the clients at the simulator."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {
                    "cluster": CONTEXT,
                    "user": CONTEXT,
                    "namespace": namespace,
                },
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, url: str, token: str) -> None:
    """Write the kubeconfig to ``path`` in one step: a reader sees all or nothing.

    It is JSON, which every kubeconfig reader accepts as YAML, and readable by
    its owner only, since it holds the bearer token.
    """
    path = path.resolve()
    document = orjson.dumps(kubeconfig(url, token), option=orjson.OPT_INDENT_2)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(document)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("Wrote the kubeconfig for %s to %s.", url, path)

"""The kubeconfig the simulator writes for its clients, written atomically."""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

CONTEXT = "leakhunt"
"""The name of the cluster, user and context in the kubeconfig."""


def kubeconfig(
    url: str,
    token: str,
    *,
    certificate_authority: bytes | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    """Return a kubeconfig that points kubectl and the clients at the simulator."""
    cluster: dict[str, str] = {"server": url}
    if certificate_authority is not None:
        cluster["certificate-authority-data"] = base64.b64encode(
            certificate_authority
        ).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
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


def write_kubeconfig(
    path: Path, url: str, token: str, *, certificate_authority: bytes | None = None
) -> None:
    """Write the kubeconfig to ``path`` in one step: a reader sees all or nothing.

    It is JSON, which every kubeconfig reader accepts as YAML, and readable by
    its owner only, since it holds the bearer token.
    """
    path = path.resolve()
    config = kubeconfig(url, token, certificate_authority=certificate_authority)
    document = orjson.dumps(config, option=orjson.OPT_INDENT_2)
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

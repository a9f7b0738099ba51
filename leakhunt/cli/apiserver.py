"""Run the built-in Kubernetes API server simulator until interrupted."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from harness.apiserver import command

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add ``leakhunt apiserver`` to the command line."""
    parser = subparsers.add_parser(
        "apiserver",
        help="run the built-in Kubernetes API server simulator",
        description=(
            "Serve a Kubernetes API server simulator on loopback: seed pods "
            "across namespaces leakhunt-0.., write a kubeconfig with a random "
            "bearer token once ready, print the URL, and serve until "
            "interrupted. Use --tls for kubectl, which sends a token only "
            "over TLS."
        ),
    )
    command.add_arguments(parser)
    parser.set_defaults(func=run)


def _announce(url: str) -> None:
    print(url, flush=True)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return the exit code."""
    return command.run(args, _announce)

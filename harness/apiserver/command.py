"""The command line of the simulator, shared by ``python -m harness.apiserver``
and ``leakhunt apiserver``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.apiserver.kubeconfig import write_kubeconfig
from harness.apiserver.resources import NAMESPACES
from harness.apiserver.server import Simulator
from harness.apiserver.store import DEFAULT_COMPACTION_WINDOW
from harness.apiserver.streaming import (
    DEFAULT_BOOKMARK_INTERVAL,
    DEFAULT_WATCH_TIMEOUT,
    WatchSettings,
)
from harness.apiserver.tls import make_certificate
from harness.errors import ConfigurationError
from harness.workload import seed

logger = logging.getLogger(__name__)

DEFAULT_KUBECONFIG = Path("leakhunt.kubeconfig")
"""Where the kubeconfig goes unless --kubeconfig says otherwise."""

ALWAYS_PRESENT_NAMESPACES = ("default", "kube-system")
"""Namespaces that exist on every simulator, as on every cluster."""

MAX_PORT = 65535

MAX_WATCH_DURATION = 24 * 3600.0
"""The longest --watch-timeout and --bookmark-interval accepted: a day.

kube-apiserver ends watches after 30 to 60 minutes and sends a bookmark a
minute; a day is beyond any soak's use, and what is longer is a typo.
"""

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Return seconds from ``300``, ``30s``, ``5m``, ``1.5h`` or ``250ms``."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 30s, 5m or 300 (seconds), got {text!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _watch_duration(text: str) -> float:
    seconds = parse_duration(text)
    if not 0 < seconds <= MAX_WATCH_DURATION:
        raise argparse.ArgumentTypeError(
            "expected a duration above 0 and at most 24h, such as 30s or 5m, "
            f"got {text!r}"
        )
    return seconds


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a whole number such as 0 or 1000, got {text!r}"
        )
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 to {MAX_PORT} (0 picks a free one), got {text!r}"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to a parser."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, loopback only)",
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=DEFAULT_KUBECONFIG,
        help="where to write the kubeconfig once serving (default: %(default)s)",
    )
    parser.add_argument(
        "--objects", type=_count, default=0, help="pods to seed (default: 0)"
    )
    parser.add_argument(
        "--namespaces",
        type=_count,
        default=1,
        help="namespaces leakhunt-0.. to create and seed across (default: 1)",
    )
    parser.add_argument(
        "--compaction-window",
        type=parse_duration,
        default=DEFAULT_COMPACTION_WINDOW,
        metavar="DURATION",
        help="how long watch history is kept before a watch from an older "
        "resourceVersion gets 410 Gone (default: 5m)",
    )
    parser.add_argument(
        "--watch-timeout",
        type=_watch_duration,
        default=DEFAULT_WATCH_TIMEOUT,
        metavar="DURATION",
        help="how long a watch without timeoutSeconds lasts (default: 30m)",
    )
    parser.add_argument(
        "--bookmark-interval",
        type=_watch_duration,
        default=DEFAULT_BOOKMARK_INTERVAL,
        metavar="DURATION",
        help="time between bookmarks on watches that allow them (default: 1m)",
    )
    parser.add_argument(
        "--token", default=None, help="bearer token to require (default: random)"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed certificate (kubectl sends the token "
        "only over TLS; the Python clients also work over plain HTTP)",
    )


def build_simulator(args: argparse.Namespace) -> Simulator:
    """Return a seeded simulator configured from parsed options."""
    if args.objects and not args.namespaces:
        raise ConfigurationError(
            f"cannot seed {args.objects} objects into 0 namespaces; "
            "pass --namespaces 1 or more"
        )
    simulator = Simulator(
        token=args.token,
        compaction_window=args.compaction_window,
        watch_settings=WatchSettings(
            timeout=args.watch_timeout, bookmark_interval=args.bookmark_interval
        ),
    )
    for name in ALWAYS_PRESENT_NAMESPACES:
        simulator.store.create(NAMESPACES, "", seed.namespace(name))
    seed.seed(simulator.store, objects=args.objects, namespaces=args.namespaces)
    return simulator


async def serve(args: argparse.Namespace, on_ready: Callable[[str], None]) -> None:
    """Seed, listen, write the kubeconfig, call ``on_ready(url)``, serve until
    SIGINT or SIGTERM."""
    directory = args.kubeconfig.resolve().parent
    if not directory.is_dir():
        raise ConfigurationError(
            f"cannot write the kubeconfig to {args.kubeconfig}: {directory} is not "
            "a directory; pass --kubeconfig with a path in an existing directory"
        )
    simulator = build_simulator(args)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    with tempfile.TemporaryDirectory(prefix="leakhunt-apiserver-") as workdir:
        certificate = make_certificate(Path(workdir), args.host) if args.tls else None
        try:
            url = await simulator.start(
                args.host,
                args.port,
                certificate.server_context() if certificate else None,
            )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                "pick another --host or --port (0 picks a free port)"
            ) from exc
        try:
            write_kubeconfig(
                args.kubeconfig,
                url,
                simulator.token,
                certificate_authority=certificate.cert.read_bytes()
                if certificate
                else None,
            )
            on_ready(url)
            await stopping.wait()
            logger.info("Stopping the API server simulator at %s.", url)
        finally:
            await simulator.stop()


def run(args: argparse.Namespace, on_ready: Callable[[str], None]) -> int:
    """Run the simulator in a fresh event loop; return the exit code."""
    asyncio.run(serve(args, on_ready))
    return 0

"""``python -m harness.apiserver``: run the API server simulator."""

from __future__ import annotations

import argparse
import logging
import sys

from harness.apiserver.command import add_arguments, run
from harness.errors import HarnessError

logger = logging.getLogger(__name__)


def _announce(url: str) -> None:
    sys.stdout.write(f"{url}\n")
    sys.stdout.flush()


def main() -> int:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.apiserver",
        description="Run the Kubernetes API server simulator.",
    )
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args()
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args, _announce)
    except HarnessError as exc:
        sys.stderr.write(f"harness.apiserver: error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

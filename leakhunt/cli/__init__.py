"""The ``leakhunt`` command line: one module per subcommand.

Each subcommand module exposes ``register(subparsers)``, which adds its parser
and sets ``func`` to a ``run(args) -> int`` callable. :func:`main` parses,
configures logging from ``-v``, dispatches, and turns the errors leakhunt and
the harness raise on purpose into one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from rich.console import Console

from harness.errors import HarnessError
from leakhunt.errors import LeakhuntError

SUBCOMMANDS = ("soak", "apiserver", "report")
"""Subcommand modules under :mod:`leakhunt.cli`, in the order --help lists them."""

EXIT_INTERRUPTED = 130

_LOG_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)

_T = TypeVar("_T")


def output_console(*, stderr: bool = False) -> Console:
    """A console for a subcommand's output.

    On a terminal, rich wraps lines to its width. In a CI log or a pipe there
    is no width to wrap to, and rich's fallback of 80 columns would break a
    finding's source line in two, so lines are left whole there.
    """
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def one_line(exc: BaseException) -> str:
    """An error's message as one line: a message that quotes another process's
    output (a traceback) keeps its first line and its last, the error itself."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    head = lines[0].removesuffix("Traceback (most recent call last):").rstrip()
    return f"{head} ... {lines[-1]}"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr.

    argparse prints the whole usage before the error; in a CI log that buries
    the one line that says what was wrong. Subcommand parsers inherit this
    class, so every ``leakhunt`` command reports bad arguments the same way.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` and where to look, and exit with 2."""
        usage_error(self.prog, message)


def usage_error(prog: str, message: str) -> NoReturn:
    """Exit with 2 after one line naming the command, the mistake and its help."""
    sys.stderr.write(f"{prog}: error: {message}; see '{prog} --help'\n")
    sys.exit(2)


def _option_value(text: str, convert: Callable[[str], _T], expected: str) -> _T:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def whole_number(text: str) -> int:
    """Parse an option's whole number; the message names what was expected."""
    return _option_value(text, int, "a whole number")


def number(text: str) -> float:
    """Parse an option's number; the message names what was expected."""
    return _option_value(text, float, "a number such as 5 or 0.5")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand."""
    parser = OneLineParser(
        prog="leakhunt",
        description=(
            "Find memory, thread, socket and watch leaks in Python Kubernetes "
            "controllers."
        ),
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v for progress, -vv for debugging detail",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"leakhunt.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # NB: argparse leaves unknown options to the top-level parser; name the
        # subcommand they were given to, whose --help lists what it takes.
        prog = f"{parser.prog} {args.command}" if args.command else parser.prog
        usage_error(prog, f"unrecognized arguments: {' '.join(extras)}")
    if args.command is None:
        parser.print_help()
        return 2

    level = _LOG_LEVELS[min(args.verbose, len(_LOG_LEVELS) - 1)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")

    try:
        code: int = args.func(args)
    except (LeakhuntError, HarnessError) as exc:
        print(f"leakhunt {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"leakhunt {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code

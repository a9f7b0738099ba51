"""Render a saved run's JSON report in the terminal, as HTML, or both."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from leakhunt.cli import output_console
from leakhunt.errors import UsageError
from leakhunt.report.html import write_html
from leakhunt.report.model import Report, ReportFormatError
from leakhunt.report.terminal import render

logger = logging.getLogger(__name__)

EXIT_CLEAN = 0
EXIT_FINDINGS = 1


def register(subparsers: Any) -> None:
    """Add ``leakhunt report`` to the command line."""
    parser = subparsers.add_parser(
        "report",
        help="render a saved run's JSON report in the terminal or as HTML",
        description=(
            "Read a JSON report written by 'leakhunt soak' and print it, or "
            "write it as one self-contained HTML page (plots per signal, the "
            "evidence of each finding) with --html. Exit codes: 0 the run "
            "passed, 1 it had findings, 2 bad usage or an unreadable report."
        ),
    )
    parser.add_argument(
        "report", type=Path, metavar="RUN.json", help="the JSON report of a run"
    )
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the HTML report here (no network needed to open it)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="do not print the report in the terminal",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the report, print it and write the HTML; return the run's exit code."""
    report = read_report(args.report)
    if args.html is not None:
        check_html_path(args.html)

    console = output_console()
    if not args.quiet:
        render(report, console=console)
    if args.html is not None:
        path = write_html(report, args.html)
        console.print(f"HTML report written to {path}", highlight=False)
    return EXIT_CLEAN if report.passed else EXIT_FINDINGS


def read_report(path: Path) -> Report:
    """Read a JSON report, turning a bad file into a one-line usage error."""
    try:
        return Report.read(path)
    except ReportFormatError as exc:
        # The format error already says which writers make a valid report.
        raise UsageError(f"{path} is not a leakhunt report: {exc}") from exc


def check_html_path(path: Path) -> None:
    """Refuse an --html path that cannot be written, before any work is done."""
    check_output_path("--html", path, "report.html")


def check_output_path(flag: str, path: Path, example: str) -> None:
    """Refuse a path ``flag`` names that cannot be written, before any work
    is done: a report that cannot be written at the end loses the whole run."""
    if path.is_dir():
        raise UsageError(
            f"{flag} names a directory, {str(path)!r}; give a file path such as "
            f"{example}"
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"{flag} {str(path)!r}: the directory {str(path.parent)!r} does not "
            "exist; create it or choose another path"
        )

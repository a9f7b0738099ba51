"""Soak a controller through many cycles and report what it leaks."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from harness.errors import EXIT_RUN_FAILED
from leakhunt.analysis.lifecycle import CONTROLLER_ERROR
from leakhunt.attribution import DEFAULT_DEEP_CYCLES
from leakhunt.cli import number, output_console, whole_number
from leakhunt.cli.report import check_html_path, check_output_path
from leakhunt.errors import UsageError
from leakhunt.report.html import write_html
from leakhunt.report.model import Report
from leakhunt.report.progress import SoakProgress
from leakhunt.report.terminal import render
from leakhunt.soak import (
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_SYNC_TIMEOUT,
    SoakOptions,
    run_soak,
)

logger = logging.getLogger(__name__)

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INTERRUPTED = 130

DEFAULT_REPORT = Path("leakhunt-report.json")
DEFAULT_LOG_DIR = Path("leakhunt-runs")


def register(subparsers: Any) -> None:
    """Add ``leakhunt soak`` to the command line."""
    parser = subparsers.add_parser(
        "soak",
        help="soak a controller through many cycles and report what it leaks",
        description=(
            "Run a controller through repeated create / sync / stop cycles "
            "against the built-in API server simulator (or a real cluster with "
            "--kubeconfig) and report memory, object, thread, fd, socket and "
            "watch leaks, stops that hang, and misuse of the API server. "
            "Exit codes: 0 clean, 1 findings, 2 bad usage, 3 the run failed, 130 "
            "interrupted (the partial report is written)."
        ),
    )
    parser.add_argument(
        "target",
        metavar="TARGET",
        help="the controller: package.module:name or path/to/file.py:name",
    )
    parser.add_argument(
        "--scenario",
        default="lifecycle",
        help="lifecycle, churn, idle-stop, early-stop, restart, relist or signal "
        "(default: lifecycle)",
    )
    parser.add_argument("--cycles", type=whole_number, default=30, help="default: 30")
    parser.add_argument(
        "--warmup",
        type=whole_number,
        default=None,
        help="cycles to set aside before judging (default: detected)",
    )
    parser.add_argument(
        "--objects", type=whole_number, default=200, help="pods to seed (default: 200)"
    )
    parser.add_argument(
        "--namespaces",
        type=whole_number,
        default=1,
        help="namespaces to spread the pods over (default: 1)",
    )
    parser.add_argument(
        "--churn",
        type=number,
        default=20.0,
        metavar="RATE",
        help="operations per second in the churn scenario (default: 20)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=number,
        default=DEFAULT_STOP_TIMEOUT,
        metavar="S",
        help="seconds a stop may take before it counts as hung (default: "
        f"{DEFAULT_STOP_TIMEOUT:g})",
    )
    parser.add_argument(
        "--sync-timeout",
        type=number,
        default=DEFAULT_SYNC_TIMEOUT,
        metavar="S",
        help="seconds the controller may take to sync each cycle (default: "
        f"{DEFAULT_SYNC_TIMEOUT:g})",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        metavar="PATH",
        help="soak against this cluster instead of the simulator",
    )
    parser.add_argument("--context", default=None, help="the kubeconfig context to use")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace Python allocations (finer memory signal, ~3x slower)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_REPORT,
        metavar="PATH",
        help=f"where to write the JSON report (default: {DEFAULT_REPORT})",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=DEFAULT_LOG_DIR,
        metavar="DIR",
        help=f"where the worker's log and kubeconfig go (default: {DEFAULT_LOG_DIR})",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress display; print only the verdict line",
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="run the attribution pass even if screening finds no growth",
    )
    parser.add_argument(
        "--deep-cycles",
        type=whole_number,
        default=DEFAULT_DEEP_CYCLES,
        metavar="N",
        help="traced cycles of the attribution pass, which explains growth with "
        f"memray, tracemalloc and reference chains (default: {DEFAULT_DEEP_CYCLES})",
    )
    parser.add_argument(
        "--no-attribution",
        action="store_true",
        help="screen only: do not explain memory or object growth",
    )
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write a self-contained HTML report with a plot per signal",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the soak, print the report, write the JSON, return the exit code."""
    options = SoakOptions(
        target=args.target,
        scenario=args.scenario,
        cycles=args.cycles,
        warmup=args.warmup,
        objects=args.objects,
        namespaces=args.namespaces,
        churn=args.churn,
        stop_timeout=args.stop_timeout,
        sync_timeout=args.sync_timeout,
        kubeconfig=args.kubeconfig,
        context=args.context,
        tracemalloc=args.tracemalloc,
        log_dir=args.log_dir,
        attribution=not args.no_attribution,
        deep=args.deep,
        deep_cycles=args.deep_cycles,
    )
    options.validate()
    if args.deep and args.no_attribution:
        raise UsageError(
            "--deep asks for the attribution pass and --no-attribution turns it "
            "off; use one of them"
        )
    if args.html is not None:
        check_html_path(args.html)
    check_output_path("--json", args.json, "report.json")

    console = output_console()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        # The screening verdict is written before the attribution pass, and
        # the whole report over it once the pass is done.
        checkpoint = partial(Report.write, path=args.json)
        if args.quiet:
            report = run_soak(options, checkpoint=checkpoint)
        else:
            with SoakProgress(output_console(stderr=True)) as progress:
                report = run_soak(options, progress, checkpoint=checkpoint)
    finally:
        signal.signal(signal.SIGTERM, previous)

    path = report.write(args.json)
    _show(console, report, path, quiet=args.quiet)
    if args.html is not None:
        html_path = write_html(report, args.html)
        console.print(f"HTML report written to {html_path}", highlight=False)
    if report.meta.get("interrupted"):
        return EXIT_INTERRUPTED
    failure = report.meta.get("failure")
    if failure is not None:
        # The run broke, but what it measured is in the partial report.
        print(
            f"leakhunt soak: error: {failure}; the partial report is in {path}",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED
    return EXIT_CLEAN if report.passed else EXIT_FINDINGS


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends a soak as Ctrl-C does: the worker and the simulator are
    stopped and the partial report is written."""
    raise KeyboardInterrupt


def _why(report: Report) -> str:
    """What made the verdict: the finding kinds, and the error of a cycle."""
    reasons = sorted({finding.kind for finding in report.findings})
    error = report.error
    failure = report.meta.get("failure")
    if failure is not None:
        reasons.append(str(failure))
    elif error is not None and error.get("type") == CONTROLLER_ERROR:
        raised = str(error.get("message") or error.get("type") or "an error")
        reasons.append(f"cycle {error.get('cycle')} raised {raised}")
    return f": {'; '.join(reasons)}" if reasons else ""


def _show(console: Console, report: Report, path: Path, *, quiet: bool) -> None:
    if report.meta.get("interrupted"):
        console.print(
            f"leakhunt: interrupted after {report.cycles} cycles; the partial "
            f"report is in {path}",
            highlight=False,
        )
        if quiet:
            return
    if quiet:
        console.print(
            f"leakhunt: {report.verdict}{_why(report)} ({path})", highlight=False
        )
        return
    render(report, console=console)
    console.print(f"Report written to {path}", highlight=False)

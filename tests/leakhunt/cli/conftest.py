"""Fixtures for the command line's tests: ``leakhunt soak`` run as a user runs it.

``soak`` runs the command in a subprocess, against the simulator leakhunt
starts, with its report, logs and stdout under the test's ``tmp_path``, and
gives back what a user sees: the exit code, the JSON report and stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

SOAK_TIMEOUT = 600
"""Seconds any one soak may take here before the test calls it a hang."""


class SoakResult(NamedTuple):
    """A finished soak: its exit code, the report it wrote (or None), stderr."""

    code: int
    report: dict[str, Any] | None
    stderr: str

    def kinds(self) -> set[str]:
        """The kinds of the report's findings."""
        assert self.report is not None, self.stderr
        return {finding["kind"] for finding in self.report["findings"]}

    def described(self) -> str:
        """The report's findings, one a line, for an assertion that fails."""
        assert self.report is not None, self.stderr
        findings = self.report["findings"]
        return "\n".join(f"{f['kind']}: {f['message']}" for f in findings)


@dataclass(frozen=True)
class Soak:
    """Runs ``leakhunt soak TARGET ARGS --json REPORT --log-dir LOG_DIR``.

    Unless told otherwise the soak is ``--quiet`` and gets ``--no-attribution``:
    most tests judge the screening verdict, and explaining a leak is tested in
    tests/leakhunt/test_attribution.py.
    """

    tmp_path: Path

    @property
    def report(self) -> Path:
        """Where the soak writes its JSON report."""
        return self.tmp_path / "report.json"

    @property
    def log_dir(self) -> Path:
        """The soak's ``--log-dir``: the worker's and simulator's logs."""
        return self.tmp_path / "run"

    @property
    def stdout(self) -> Path:
        """Where the stdout of the last finished soak is kept."""
        return self.tmp_path / "stdout"

    def command(
        self, target: str, *args: str, attribution: bool, quiet: bool
    ) -> list[str]:
        """The command line for a soak of ``target``."""
        return [
            sys.executable,
            "-m",
            "leakhunt",
            "soak",
            target,
            *(["--quiet"] if quiet else []),
            "--json",
            str(self.report),
            "--log-dir",
            str(self.log_dir),
            *([] if attribution else ["--no-attribution"]),
            *args,
        ]

    def __call__(
        self,
        target: str,
        *args: str,
        attribution: bool = False,
        quiet: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = SOAK_TIMEOUT,
    ) -> SoakResult:
        """Run a soak to its end and read the report it left, if any."""
        completed = subprocess.run(
            self.command(target, *args, attribution=attribution, quiet=quiet),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )

        self.stdout.write_text(completed.stdout)
        document = json.loads(self.report.read_text()) if self.report.exists() else None
        return SoakResult(completed.returncode, document, completed.stderr)

    def error_line(self, target: str, *args: str) -> tuple[int, str]:
        """Run a soak that must stop at once; return its exit code and its one
        line."""
        code, _, stderr = self(target, *args, timeout=120)

        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("leakhunt soak: error: ")
        return code, lines[0]

    def start(
        self,
        target: str,
        *args: str,
        attribution: bool = False,
        quiet: bool = True,
        start_new_session: bool = False,
    ) -> subprocess.Popen[str]:
        """Start a soak without waiting for it; its stderr is a pipe to read."""
        return subprocess.Popen(
            self.command(target, *args, attribution=attribution, quiet=quiet),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=start_new_session,
        )


@pytest.fixture
def soak(tmp_path: Path) -> Soak:
    """A :class:`Soak` that writes under this test's ``tmp_path``."""
    return Soak(tmp_path)

"""The report of a run and its findings, and their versioned JSON form."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from leakhunt.errors import LeakhuntError

logger = logging.getLogger(__name__)

SCHEMA = "leakhunt.report/v1"
"""The ``schema`` field of every JSON report this version writes and reads."""

STAGE_CYCLE = "the cycle"
STAGE_SAMPLE = "sampling"
STAGE_ON_SAMPLE = "on_sample"
STAGE_DETAILS = "probe details"
"""Where a run broke, as ``error["stage"]`` names it: the callable itself, a
probe's sample(), the on_sample callback, or the probes' details() at the end."""

PASS = "pass"
FAIL = "fail"

MEMORY_GROWTH = "memory-growth"
OBJECT_GROWTH = "object-growth"
THREAD_LEAK = "thread-leak"
FD_LEAK = "fd-leak"
SOCKET_LEAK = "socket-leak"
TASK_LEAK = "task-leak"
WATCH_LEAK = "watch-leak"
STOP_TIMEOUT = "stop-timeout"
START_TIMEOUT = "start-timeout"
WORKER_CRASH = "worker-crash"
RELIST_STORM = "relist-storm"
UNSCOPED_WATCH = "unscoped-watch"
BLOCKING_HANDLER = "blocking-handler"
UNTHROTTLED_WRITES = "unthrottled-writes"

FINDING_KINDS: tuple[str, ...] = (
    WORKER_CRASH,
    START_TIMEOUT,
    STOP_TIMEOUT,
    THREAD_LEAK,
    TASK_LEAK,
    WATCH_LEAK,
    SOCKET_LEAK,
    FD_LEAK,
    OBJECT_GROWTH,
    MEMORY_GROWTH,
    RELIST_STORM,
    UNSCOPED_WATCH,
    BLOCKING_HANDLER,
    UNTHROTTLED_WRITES,
)
"""Every finding kind leakhunt knows, most specific first (the report's order)."""


class ReportFormatError(LeakhuntError):
    """A report that cannot be read, or written, as a leakhunt JSON document."""


REWRITE_HINT = "give a report written by Report.write() or 'leakhunt soak --json'"
"""How to fix a file that is not a report: the two writers of this schema."""


@dataclass
class Finding:
    """One thing that grows or stays behind, with how sure leakhunt is.

    ``per_cycle`` is the growth per cycle in ``unit`` (for a non-statistical
    finding such as a watch left open, the count of occurrences), with its
    confidence interval ``ci_low``..``ci_high`` when one was computed.
    ``confidence`` is between 0 and 1. ``evidence`` is free-form JSON: warm-up
    used, method, thread stacks, fd targets, URLs.
    """

    kind: str
    signal: str
    per_cycle: float
    unit: str
    message: str
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 1.0
    evidence: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return the finding as a JSON-able dict."""
        return {
            "kind": self.kind,
            "signal": self.signal,
            "per_cycle": _finite_or_none(self.per_cycle),
            "ci_low": _finite_or_none(self.ci_low),
            "ci_high": _finite_or_none(self.ci_high),
            "confidence": self.confidence,
            "unit": self.unit,
            "message": self.message,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Rebuild a finding from :meth:`to_dict`'s output."""
        try:
            return cls(
                kind=str(data["kind"]),
                signal=str(data["signal"]),
                per_cycle=_float_or_nan(data["per_cycle"]),
                unit=str(data["unit"]),
                message=str(data["message"]),
                ci_low=_optional_float(data.get("ci_low")),
                ci_high=_optional_float(data.get("ci_high")),
                confidence=float(data.get("confidence", 1.0)),
                evidence=dict(data.get("evidence") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportFormatError(
                f"a finding needs kind, signal, per_cycle, unit and message; "
                f"could not read {dict(data)!r}: {exc}; {REWRITE_HINT}"
            ) from exc


@dataclass
class Report:
    """The outcome of a run: findings, every per-cycle series, and any error.

    ``verdict`` is derived, never stored: ``"fail"`` when there is a finding
    or an error, ``"pass"`` otherwise, so findings appended by other code
    (a watch left open, a stop that timed out) count without recomputing
    anything. ``series`` maps each signal to one value per completed cycle;
    NaN marks a cycle in which the signal was not measured. ``warmup`` is the
    number of warm-up cycles asked for, or None when it was detected per
    signal (each finding's ``evidence["warmup"]`` says how many were used).
    ``error`` is None or ``{cycle, stage, type, message, traceback}``.
    """

    cycles: int
    warmup: int | None = None
    findings: list[Finding] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)
    error: dict[str, object] | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``"fail"`` if anything was found or the run broke, else ``"pass"``."""
        return FAIL if self.findings or self.error is not None else PASS

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``"pass"``."""
        return self.verdict == PASS

    def summary(self) -> str:
        """Return the terminal summary as plain text, without colour.

        The same lines as ``leakhunt report`` and a failed pytest marker show:
        the one-line verdict, then what grows with its evidence, any error,
        and the timing.
        """
        # NB: the renderer imports this module, so it is imported on use.
        from leakhunt.report.terminal import plain_text  # noqa: PLC0415 - see above

        return plain_text(self)

    def to_dict(self) -> dict[str, object]:
        """Return the report as the JSON-able ``leakhunt.report/v1`` document."""
        return {
            "schema": SCHEMA,
            "verdict": self.verdict,
            "cycles": self.cycles,
            "warmup": self.warmup,
            "findings": [finding.to_dict() for finding in self.findings],
            "series": {
                name: [_json_number(value) for value in values]
                for name, values in self.series.items()
            },
            "error": self.error,
            "meta": self.meta,
        }

    def to_json(self, *, indent: bool = True) -> str:
        """Return the report as JSON text; NaN and infinities become null."""
        option = orjson.OPT_INDENT_2 if indent else 0
        try:
            text = orjson.dumps(
                self.to_dict(),
                option=option | orjson.OPT_SERIALIZE_NUMPY,
                default=_json_value,
            )
        except orjson.JSONEncodeError as exc:
            raise ReportFormatError(
                f"cannot write the report as JSON: {exc}; put only strings, "
                "numbers, booleans, None, paths, lists, sets and dicts of them "
                "in meta and evidence"
            ) from exc
        return text.decode()

    def write(self, path: str | Path) -> Path:
        """Write the JSON report to ``path`` and return the path.

        The file is replaced whole: a soak killed while writing leaves the
        previous report (the screening verdict) rather than half of a new one.
        """
        target = Path(path)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_text(self.to_json() + "\n", encoding="utf-8")
        partial.replace(target)
        logger.info("Wrote the leakhunt report to %s.", target)
        return target

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Rebuild a report from a ``leakhunt.report/v1`` document."""
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ReportFormatError(
                f"expected a report with schema {SCHEMA!r}, got schema {schema!r}; "
                f"{REWRITE_HINT}"
            )

        try:
            return cls(
                cycles=int(data["cycles"]),
                warmup=None if data.get("warmup") is None else int(data["warmup"]),
                findings=[Finding.from_dict(item) for item in data.get("findings", [])],
                series={
                    str(name): [_float_or_nan(value) for value in values]
                    for name, values in (data.get("series") or {}).items()
                },
                error=data.get("error"),
                meta=dict(data.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportFormatError(
                f"a {SCHEMA} report needs an integer 'cycles' and lists of numbers "
                f"in 'series': {exc}; {REWRITE_HINT}"
            ) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Report:
        """Parse JSON text written by :meth:`to_json`."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ReportFormatError(
                f"a report must be JSON; {exc}; {REWRITE_HINT}"
            ) from exc
        if not isinstance(data, dict):
            raise ReportFormatError(
                f"a report must be a JSON object, got {type(data).__name__}; "
                f"{REWRITE_HINT}"
            )
        return cls.from_dict(data)

    @classmethod
    def read(cls, path: str | Path) -> Report:
        """Read a JSON report written by :meth:`write`."""
        source = Path(path)
        try:
            text = source.read_bytes()
        except OSError as exc:
            raise ReportFormatError(
                f"could not read the report {source}: {exc.strerror}; check the "
                "path and that you may read it"
            ) from exc
        return cls.from_json(text)


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Order findings by kind (most specific first), then signal."""
    order = {kind: index for index, kind in enumerate(FINDING_KINDS)}
    return sorted(findings, key=lambda f: (order.get(f.kind, len(order)), f.signal))


def _json_value(value: object) -> object:
    """Convert the few non-JSON values reports may hold; refuse anything else.

    Anything else used to be written as its ``str()``, which reads back as a
    string that looks like data but is not: refusing it shows the bug.
    """
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"Type is not JSON serializable: {type(value).__qualname__}")


def _json_number(value: float) -> float | int | None:
    if not math.isfinite(value):
        return None
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(value)


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _float_or_nan(value: object) -> float:
    if value is None:
        return math.nan
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"expected a number or null, got {value!r}")


def _optional_float(value: object) -> float | None:
    return None if value is None else _float_or_nan(value)

"""leakhunt: find memory and lifecycle leaks in Python Kubernetes controllers.

The observer and the judge. It drives code through repeated cycles, samples
the process between them, and says with statistical confidence whether
anything grows, what grows, and who still holds it.

The public API is re-exported here: :func:`run_cycles` and the pieces it is
built from (:class:`Sampler`, :func:`judge`, :class:`Report` with its plain
terminal summary :meth:`Report.summary`, :class:`Finding`,
:class:`Thresholds`). They are imported on first use, so that the command
line starts without loading numpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from leakhunt.errors import LeakhuntError, UsageError

if TYPE_CHECKING:
    from leakhunt.analysis.signals import SignalRegistry, SignalSpec, default_signals
    from leakhunt.analysis.thresholds import Thresholds
    from leakhunt.analysis.verdict import judge
    from leakhunt.cycles import run_cycles
    from leakhunt.probes.base import Probe, default_probes
    from leakhunt.report.model import Finding, Report
    from leakhunt.sampler import Sample, Sampler, Settle

_LAZY = {
    "Finding": "leakhunt.report.model",
    "Probe": "leakhunt.probes.base",
    "Report": "leakhunt.report.model",
    "Sample": "leakhunt.sampler",
    "Sampler": "leakhunt.sampler",
    "Settle": "leakhunt.sampler",
    "SignalRegistry": "leakhunt.analysis.signals",
    "SignalSpec": "leakhunt.analysis.signals",
    "Thresholds": "leakhunt.analysis.thresholds",
    "default_probes": "leakhunt.probes.base",
    "default_signals": "leakhunt.analysis.signals",
    "judge": "leakhunt.analysis.verdict",
    "run_cycles": "leakhunt.cycles",
}

__all__ = [
    "Finding",
    "LeakhuntError",
    "Probe",
    "Report",
    "Sample",
    "Sampler",
    "Settle",
    "SignalRegistry",
    "SignalSpec",
    "Thresholds",
    "UsageError",
    "default_probes",
    "default_signals",
    "judge",
    "run_cycles",
]


def __getattr__(name: str) -> object:
    """Import a public name from its module the first time it is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'leakhunt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""The controller contract, its adapters, and the scenarios that cycle a controller.

What belongs here: loading a controller named on the command line and telling
its shape (:mod:`~harness.lifecycle.target`), the context it is given
(:mod:`~harness.lifecycle.context`), the adapters that give the three shapes
one start / stop interface (:mod:`~harness.lifecycle.adapters`) and the one
event loop async controllers share (:mod:`~harness.lifecycle.loop`), stop
deadlines and thread dumps (:mod:`~harness.lifecycle.threads`), waiting for a
sync (:mod:`~harness.lifecycle.sync`), the scenarios
(:mod:`~harness.lifecycle.scenarios`, with the signal scenario's child process
in :mod:`~harness.lifecycle.signals` and :mod:`~harness.lifecycle.child`), the
control surface of the server they drive (:mod:`~harness.lifecycle.server`),
and the runner that does one whole cycle (:mod:`~harness.lifecycle.runner`).

Nothing here measures memory: the caller samples the process between cycles.
"""

from harness.lifecycle.adapters import DEFAULT_STOP_TIMEOUT, StopOutcome
from harness.lifecycle.context import Context, ContextFactory
from harness.lifecycle.runner import CycleResult, CycleRunner
from harness.lifecycle.scenarios import SCENARIOS, Scenario, get_scenario
from harness.lifecycle.server import ServerControl
from harness.lifecycle.sync import DEFAULT_SYNC_TIMEOUT
from harness.lifecycle.target import Shape, Target, load_target

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "DEFAULT_SYNC_TIMEOUT",
    "SCENARIOS",
    "Context",
    "ContextFactory",
    "CycleResult",
    "CycleRunner",
    "Scenario",
    "ServerControl",
    "Shape",
    "StopOutcome",
    "Target",
    "get_scenario",
    "load_target",
]

"""The worker process: hosts the controller under test and the probes.

The soak conductor starts ``python -m leakhunt.worker SPEC CMD_FD RESULT_FD``.
The worker loads the target, then waits for commands on ``CMD_FD``: ``cycle``
runs one cycle of the scenario, lets the process settle, samples every probe
and answers with one ``sample`` message on ``RESULT_FD``, after a ``phase``
message as it enters each phase of the cycle; ``details`` answers
with the probes' evidence (thread stacks, fd targets, socket endpoints);
``exit`` shuts down. The conductor reads the API server between cycles, while
the worker is idle, so the server's view of each cycle is exact.

A worker that hangs is not the worker's problem to solve: the conductor
gives each cycle a deadline, asks for a stack dump with ``SIGUSR1``
(:mod:`faulthandler` writes it to the worker's log) and kills it.

``python -m leakhunt.worker --check TARGET`` only loads the target: it exits
0, or 2 with the one-line error on stdout.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from harness.errors import ConfigurationError, HarnessError
from harness.lifecycle.context import ContextFactory
from harness.lifecycle.runner import CycleRunner
from harness.lifecycle.scenarios import Phase
from harness.lifecycle.server import ServerControl
from harness.lifecycle.target import load_target
from harness.workload.control import Control
from leakhunt.channel import ChannelClosed, Receiver, send
from leakhunt.probes.base import Probe, default_probes
from leakhunt.probes.handlers import HandlerSampler
from leakhunt.probes.watches import ServerSocketsProbe
from leakhunt.sampler import Sampler

logger = logging.getLogger(__name__)

READY = "ready"
FATAL = "fatal"
SAMPLE = "sample"
DETAILS = "details"
PHASE = "phase"

SAMPLING = "sample"
"""The phase after the cycle: garbage collection and every probe's sample."""

CHECK_OPTION = "--check"

WARM_HOST = "leakhunt-warm.invalid"
"""The host of the throwaway URLs that fill yarl's caches (a name that never
resolves: the URLs are parsed, never requested)."""

BOUNDED_CACHES: tuple[tuple[str, str, Callable[[int], tuple[str, ...]]], ...] = (
    # aiohttp (kubernetes_asyncio, kopf) parses every request URL with yarl,
    # which keeps the last 128 parsed URLs per way of building one. A
    # controller's URLs differ by pod name and resourceVersion, so the count
    # of yarl.URL grows a few a cycle until the caches are full: a bounded
    # cache, not the controller's. Filled before the baseline, each new URL
    # only replaces an old one and the count stays flat.
    ("yarl._url", "encode_url", lambda i: (f"http://{WARM_HOST}/{i}",)),
    ("yarl._url", "pre_encoded_url", lambda i: (f"http://{WARM_HOST}/{i}",)),
    ("yarl._url", "from_parts", lambda i: ("http", WARM_HOST, f"/{i}", "", "")),
)
"""Bounded caches of the libraries controllers use, filled before the first
cycle: (module, cached function, the arguments of its i-th distinct call)."""


@dataclass(frozen=True)
class WorkerSpec:
    """What the conductor tells a worker to run, passed as one JSON argument."""

    target: str
    scenario: str
    kubeconfig: str
    namespace: str
    label_selector: str | None
    stop_timeout: float
    sync_timeout: float
    kube_context: str | None = None
    churn_rate: float = 0.0
    control_url: str | None = None
    control_token: str | None = None
    tracemalloc: bool = False
    attribution: dict[str, Any] | None = None
    """A :class:`~leakhunt.probes.deep.DeepConfig` as data: the attribution pass."""

    def to_json(self) -> str:
        """Encode for the worker's command line."""
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        """Decode what :meth:`to_json` wrote."""
        return cls(**orjson.loads(text))


def _server_control(spec: WorkerSpec) -> ServerControl | None:
    if spec.control_url is None or spec.control_token is None:
        return None

    return Control(spec.control_url, spec.control_token, churn_rate=spec.churn_rate)


def _probes(spec: WorkerSpec, configuration_host: str) -> list[Probe]:
    probes = default_probes(tracemalloc=spec.tracemalloc)
    probes.append(ServerSocketsProbe(configuration_host))
    if spec.attribution is not None:
        # NB: the attribution pass's allocation fit needs numpy, whose objects
        # a screening worker must not carry in the heap it measures.
        from leakhunt.probes.deep import (  # noqa: PLC0415 - only when attributing
            DeepConfig,
            deep_probes,
        )

        probes.extend(deep_probes(DeepConfig.from_dict(spec.attribution)))
    return probes


class Worker:
    """Runs cycles on command and answers each with a sample."""

    def __init__(self, spec: WorkerSpec, results: BinaryIO) -> None:
        self.spec = spec
        self.results = results
        target = load_target(spec.target)
        contexts = ContextFactory.from_kubeconfig(
            Path(spec.kubeconfig),
            spec.namespace,
            context=spec.kube_context,
            label_selector=spec.label_selector,
        )
        self.runner = CycleRunner(
            target,
            scenario=spec.scenario,
            stop_timeout=spec.stop_timeout,
            sync_timeout=spec.sync_timeout,
            server=_server_control(spec),
            context_factory=contexts,
            on_phase=self._phase,
        )
        self.sampler = Sampler(probes=_probes(spec, contexts.configuration.host))
        self.handlers = HandlerSampler()
        self.shape = target.shape.value

    def serve(self, commands: Receiver) -> None:
        """Answer commands until ``exit`` or until the conductor goes away."""
        fill_bounded_caches()
        self.sampler.start()
        send(self.results, {"type": READY, "pid": os.getpid(), "shape": self.shape})
        cycle = 0
        try:
            while True:
                try:
                    command = commands.receive(timeout=None)
                except ChannelClosed:
                    logger.info("The conductor closed the command pipe; exiting.")
                    return
                action = command.get("command")
                if action == "cycle":
                    try:
                        self._cycle(cycle)
                    except HarnessError as exc:
                        # A target of the wrong shape shows only once it is
                        # called; the conductor turns this into one line.
                        send(self.results, _fatal(exc))
                        return
                    cycle += 1
                elif action == "details":
                    self._details()
                elif action == "exit":
                    return
                else:
                    logger.warning("Ignoring an unknown command %r.", command)
        finally:
            self.runner.close()
            self.sampler.stop()

    def _cycle(self, index: int) -> None:
        started = time.perf_counter()
        self.handlers.start()
        try:
            result = self.runner.run_cycle(index)
        finally:
            self.handlers.stop()
        cycle_seconds = time.perf_counter() - started

        self._phase(SAMPLING)
        sample = self.sampler.take()
        signals: dict[str, float] = dict(sample.signals)
        signals["stop_seconds"] = result.stop_seconds
        signals["tasks_pending"] = float(result.pending_task_count)
        signals.update(self.handlers.sample())
        send(
            self.results,
            {
                "type": SAMPLE,
                "cycle": index,
                "cycle_seconds": cycle_seconds,
                "sample_seconds": time.perf_counter() - started - cycle_seconds,
                "signals": signals,
                "result": result.to_dict(),
                "handlers": self.handlers.details(),
            },
        )

    def _phase(self, phase: Phase | str) -> None:
        send(self.results, {"type": PHASE, "phase": str(phase)})

    def _details(self) -> None:
        send(self.results, {"type": DETAILS, "details": self.sampler.details()})


def fill_bounded_caches() -> int:
    """Fill each of :data:`BOUNDED_CACHES` to its maximum size; return how many.

    A library the controller has not imported by now, or one that has
    changed so that the function is gone or not an ``lru_cache``, is skipped:
    its cache then fills during the first cycles, and the analysis sees it
    level off.
    """
    filled = 0
    for module_name, name, arguments in BOUNDED_CACHES:
        # NB: only a library the controller has imported: importing one here
        # would add its objects to the heap that is measured.
        module = sys.modules.get(module_name)
        if module is None:
            continue
        cached = getattr(module, name, None)
        info = getattr(cached, "cache_info", None)
        if cached is None or info is None or info().maxsize is None:
            logger.debug("No bounded cache %s.%s to fill.", module_name, name)
            continue
        for index in range(info().maxsize):
            cached(*arguments(index))
        filled += 1
    return filled


def _fatal(exc: HarnessError) -> dict[str, object]:
    return {"type": FATAL, "exit_code": exc.exit_code, "message": str(exc)}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m leakhunt.worker SPEC CMD_FD RESULT_FD``."""
    args = sys.argv[1:] if argv is None else argv
    if args[0] == CHECK_OPTION:
        return _check(args[1])

    spec = WorkerSpec.from_json(args[0])
    commands = Receiver(int(args[1]))
    results: BinaryIO = os.fdopen(int(args[2]), "wb")

    # NB: the controller under test may read stdin; give it nothing to steal.
    sys.stdin = open(os.devnull)  # noqa: SIM115
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    try:
        worker = Worker(spec, results)
    except HarnessError as exc:
        send(results, _fatal(exc))
        return exc.exit_code

    worker.serve(commands)
    return 0


def _check(target: str) -> int:
    """Load ``target`` as a worker would; say what is wrong on stdout."""
    try:
        load_target(target)
    except ConfigurationError as exc:
        sys.stdout.write(f"{exc}\n")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

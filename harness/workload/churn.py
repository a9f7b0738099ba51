"""Server-side churn: pods created, updated and deleted at a steady rate.

The churn runs inside the simulator, on its event loop, and writes through the
store's ordinary commit path, so every write bumps the global resourceVersion,
enters the watch history and reaches the open watches, exactly as a write
sent over HTTP would, at none of the HTTP cost. It works in one namespace:

- a create adds a pod built like the seeded ones (``app: leakhunt`` and a
  shard label), so a controller scoped to the seeded pods sees it;
- an update changes either an annotation or the pod's Ready condition (the
  status subresource, as a kubelet would), on a churned or a seeded pod;
- a delete removes the oldest pod the churn created.

Creates, updates and deletes take turns, and the churn keeps at most
:data:`CHURN_POOL` pods of its own alive, so the object count stays within
that many of the seeded count however long it runs. A simulator has at most
one churn; starting it again replaces the namespace and the rate. The
control endpoints ``GET``, ``POST`` and ``DELETE /leakhunt/v1/churn`` are
answered here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from harness.apiserver import status as errors
from harness.apiserver.handlers import read_json
from harness.apiserver.resources import ResourceType
from harness.apiserver.store import Store, now_rfc3339
from harness.workload.seed import pod

if TYPE_CHECKING:
    from harness.apiserver.server import Simulator

logger = logging.getLogger(__name__)

CHURN_POOL = 16
"""Churned pods alive at once: a create beyond it is followed by a delete."""

UPDATE_TARGETS = 64
"""Seeded pods, picked when the churn starts, that updates take turns on."""

MAX_RATE = 10_000.0
"""Operations per second at most; more would starve the watches being fed."""

MAX_BATCH = 100
"""Operations done at most before yielding to the event loop."""

MAX_LAG = 1.0
"""Seconds behind schedule after which the churn stops trying to catch up."""

MAX_FAILURES = 20
"""Writes failing in a row after which the churn stops (its namespace is gone)."""

CHURN_PREFIX = "churn-"
"""Churned pods are named ``churn-0``, ``churn-1``, ... (never reused)."""

CHURNED_ANNOTATION = "leakhunt.dev/churned"
"""Set to ``"true"`` on every pod the churn creates."""

UPDATE_ANNOTATION = "leakhunt.dev/churn-update"
"""The annotation an update of the metadata changes (a counter)."""

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
_TURNS = (CREATE, UPDATE, DELETE)


@dataclass(slots=True)
class ChurnCounts:
    """ChurnCounts is what one run of the churn has done so far."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0

    @property
    def operations(self) -> int:
        """Writes that succeeded."""
        return self.created + self.updated + self.deleted


class Churn:
    """Churn creates, updates and deletes pods in one namespace at a rate.

    Call :meth:`start` and :meth:`stop` from the simulator's event loop. The
    state is bounded: the pods it keeps alive (at most ``CHURN_POOL + 1``), the
    seeded pods it updates (at most :data:`UPDATE_TARGETS` names) and counters.
    """

    def __init__(self, store: Store) -> None:
        pods = store.registry.lookup("", "v1", "pods")
        assert pods is not None
        self.store = store
        self.pods: ResourceType = pods
        self.namespace: str | None = None
        self.rate = 0.0
        self.counts = ChurnCounts()
        self.error: str | None = None
        """Why the last write failed, if one did."""
        self._task: asyncio.Task[None] | None = None
        self._alive: deque[tuple[str, str]] = deque()
        self._targets: list[str] = []
        self._serial = itertools.count()
        self._turn = 0
        self._updates = 0
        self._failures_in_a_row = 0
        self._started = 0.0
        self._stopped: float | None = None

    @property
    def running(self) -> bool:
        """Whether the churn is writing now."""
        return self._task is not None and not self._task.done()

    async def start(self, namespace: str, rate: float) -> None:
        """Start churning ``namespace`` at ``rate`` operations per second.

        A churn already running is stopped first. Raises the 400 or 404
        :class:`~harness.apiserver.status.ApiError` for a rate out of range
        or a namespace that does not exist.
        """
        if not math.isfinite(rate) or not 0 < rate <= MAX_RATE:
            raise errors.bad_request(
                f"rate: expected operations per second above 0 and at most "
                f"{MAX_RATE:.0f}, such as 20, got {rate!r}"
            )
        if not self.store.namespace_exists(namespace):
            raise errors.not_found("namespaces", "", namespace)

        # First, end the churn in progress and take back the pods it left in
        # another namespace, so that switching namespaces cannot pile them up.
        await self.stop()
        self._forget_pods_outside(namespace)

        # Then, a fresh run.
        self.namespace = namespace
        self.rate = rate
        self.counts = ChurnCounts()
        self.error = None
        self._failures_in_a_row = 0
        self._targets = self._seeded_pods(namespace)
        self._started = time.monotonic()
        self._stopped = None
        self._task = asyncio.create_task(self._run(), name=f"churn of {namespace}")
        logger.info(
            "Churning pods in the namespace %s at %.1f operations per second.",
            namespace,
            rate,
        )

    async def stop(self) -> bool:
        """Stop churning; return whether a churn was running.

        No write happens once this returns: the task is cancelled between two
        writes, since a write never yields to the event loop.
        """
        task, self._task = self._task, None
        if task is None:
            return False
        was_running = not task.done()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            # NB: a cancelled caller must still see its own cancellation.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        if self._stopped is None:
            self._stopped = time.monotonic()
        logger.info(
            "Stopped churning the namespace %s after %d operations "
            "(%d created, %d updated, %d deleted, %d failed).",
            self.namespace,
            self.counts.operations,
            self.counts.created,
            self.counts.updated,
            self.counts.deleted,
            self.counts.failed,
        )
        return was_running

    def describe(self) -> dict[str, Any]:
        """Return the churn as ``GET /leakhunt/v1/churn`` shows it."""
        end = time.monotonic() if self._stopped is None else self._stopped
        return {
            "running": self.running,
            "namespace": self.namespace,
            "rate": self.rate,
            "operations": self.counts.operations,
            **asdict(self.counts),
            "seconds": round(end - self._started, 3) if self._started else 0.0,
            "alive": len(self._alive),
            "error": self.error,
        }

    # The loop.

    async def _run(self) -> None:
        try:
            await self._write_on_schedule()
        except Exception:
            # A bug must not take the simulator down with it, nor go unseen.
            logger.exception("The churn of the namespace %s failed.", self.namespace)
            self.error = "the churn failed on a bug; see the simulator's log"
        self._stopped = time.monotonic()

    async def _write_on_schedule(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.rate
        due = loop.time()
        while True:
            now = loop.time()
            if now - due > MAX_LAG:
                # NB: after a stall (a huge LIST, a paused process) the churn
                # resumes its rate rather than bursting to make up for it.
                due = now

            batch = 0
            while due <= now and batch < MAX_BATCH:
                if not self._operate():
                    return
                due += interval
                batch += 1
            await asyncio.sleep(max(0.0, due - loop.time()))

    def _operate(self) -> bool:
        """Do the next write; return False once too many failed in a row."""
        operation = self._next_operation()
        try:
            if operation == CREATE:
                self._create()
            elif operation == UPDATE:
                self._update()
            else:
                self._delete()
        except errors.ApiError as exc:
            self.counts.failed += 1
            self._failures_in_a_row += 1
            self.error = f"{operation} in {self.namespace}: {exc.message}"
            logger.debug("The churn could not %s.", self.error)
            if self._failures_in_a_row >= MAX_FAILURES:
                logger.warning(
                    "Stopped churning the namespace %s: %d writes failed in a "
                    "row, the last one with: %s",
                    self.namespace,
                    self._failures_in_a_row,
                    exc.message,
                )
                return False
            return True

        self._failures_in_a_row = 0
        if operation == CREATE:
            self.counts.created += 1
        elif operation == UPDATE:
            self.counts.updated += 1
        else:
            self.counts.deleted += 1
        return True

    def _next_operation(self) -> str:
        operation = _TURNS[self._turn % len(_TURNS)]
        self._turn += 1
        if operation == DELETE and len(self._alive) < CHURN_POOL:
            return CREATE
        if operation == CREATE and len(self._alive) > CHURN_POOL:
            return DELETE
        if operation == UPDATE and not self._alive and not self._targets:
            return CREATE
        return operation

    # The writes.

    def _create(self) -> None:
        assert self.namespace is not None
        serial = next(self._serial)
        name = f"{CHURN_PREFIX}{serial}"
        obj = pod(name, self.namespace, serial)
        annotations = obj["metadata"]["annotations"]
        annotations.pop("leakhunt.dev/seeded", None)
        annotations[CHURNED_ANNOTATION] = "true"
        self.store.create(self.pods, self.namespace, obj, keep_status=True)
        self._alive.append((self.namespace, name))

    def _update(self) -> None:
        assert self.namespace is not None
        self._updates += 1
        namespace, name = self._update_target()
        entry = self.store.get(self.pods, namespace, name)
        obj = entry.load()

        if self._updates % 4 < 2:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[UPDATE_ANNOTATION] = str(self._updates)
            self.store.update(self.pods, namespace, name, obj)
            return

        # NB: a kubelet reports readiness through the status subresource; a
        # flip of the Ready condition is the commonest status write there is.
        conditions = obj.setdefault("status", {}).setdefault("conditions", [])
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        if ready is None:
            ready = {"type": "Ready", "status": "False"}
            conditions.append(ready)
        ready["status"] = "False" if ready.get("status") == "True" else "True"
        ready["lastTransitionTime"] = now_rfc3339()
        self.store.update(self.pods, namespace, name, obj, subresource="status")

    def _update_target(self) -> tuple[str, str]:
        assert self.namespace is not None
        turn = self._updates // 2
        if self._alive and (not self._targets or self._updates % 2 == 0):
            return self._alive[turn % len(self._alive)]

        # A seeded pod that someone deleted is dropped from the turns.
        name = self._targets[turn % len(self._targets)]
        if self.store.find(self.pods, self.namespace, name) is None:
            self._targets.remove(name)
        return self.namespace, name

    def _delete(self) -> None:
        namespace, name = self._alive.popleft()
        self.store.delete(self.pods, namespace, name)

    # Bookkeeping.

    def _seeded_pods(self, namespace: str) -> list[str]:
        names = []
        for _, name, entry in self.store.list(self.pods, namespace):
            if entry.labels.get("app") == "leakhunt" and not name.startswith(
                CHURN_PREFIX
            ):
                names.append(name)
                if len(names) >= UPDATE_TARGETS:
                    break
        return names

    def _forget_pods_outside(self, namespace: str) -> None:
        kept: deque[tuple[str, str]] = deque()
        for pod_namespace, name in self._alive:
            if pod_namespace == namespace:
                kept.append((pod_namespace, name))
            elif self.store.find(self.pods, pod_namespace, name) is not None:
                try:
                    self.store.delete(self.pods, pod_namespace, name)
                except errors.ApiError as exc:
                    logger.info(
                        "Could not delete the churned pod %s/%s: %s",
                        pod_namespace,
                        name,
                        exc.message,
                    )
        self._alive = kept


def churn_of(simulator: Simulator) -> Churn:
    """Return the simulator's churn, made on first use.

    NB: the churn is kept on the simulator object itself rather than in this
    module, so that it lives and dies with its simulator, and two simulators
    in one process (benchmarks, tests) never share one.
    """
    state = vars(simulator)
    churn = state.get("churn")
    if not isinstance(churn, Churn):
        churn = state["churn"] = Churn(simulator.store)
    return churn


async def show(simulator: Simulator, request: web.Request) -> Any:
    """Answer ``GET /leakhunt/v1/churn``: the churn and what it has done."""
    return churn_of(simulator).describe()


async def start(simulator: Simulator, request: web.Request) -> Any:
    """Answer ``POST /leakhunt/v1/churn`` with ``{"namespace", "rate"}``."""
    body = await read_json(request, "churn request")
    example = 'expected a JSON object such as {"namespace": "leakhunt-0", "rate": 20}'
    if not isinstance(body, dict):
        raise errors.bad_request(f"{example}, got {str(body)[:100]!r}")
    namespace = body.get("namespace")
    rate = body.get("rate")
    if not isinstance(namespace, str) or not namespace:
        raise errors.bad_request(f"namespace: {example}, got {namespace!r}")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise errors.bad_request(f"rate: {example}, got {rate!r}")

    churn = churn_of(simulator)
    await churn.start(namespace, float(rate))
    return churn.describe()


async def stop(simulator: Simulator, request: web.Request) -> Any:
    """Answer ``DELETE /leakhunt/v1/churn``: stop it (nothing to do if stopped)."""
    churn = churn_of(simulator)
    await churn.stop()
    return churn.describe()

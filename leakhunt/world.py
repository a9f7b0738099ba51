"""The API server a soak runs against: the simulator, or a real cluster.

:func:`open_world` starts leakhunt's simulator on loopback, seeded with the
soak's pods, or connects to a real cluster from a kubeconfig, creates a
namespace of leakhunt's own there, seeds it, and removes it afterwards. Either
way the soak sees one :class:`World`: a client configuration, the namespace
the controller works in, and the server-side readings only a simulator can
give (open watches with their URLs, the request audit).
"""

from __future__ import annotations

import copy
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from harness.apiserver.process import SimulatorProcess
from harness.errors import ServerError
from harness.lifecycle.context import load_configuration
from harness.workload import seed
from harness.workload.control import Control

if TYPE_CHECKING:
    from leakhunt.soak import SoakOptions

logger = logging.getLogger(__name__)

REACH_TIMEOUT = 10.0
"""Seconds to wait for a real cluster's ``/version`` before calling it unreachable."""

WATCH_POLL_INTERVAL = 0.05


@dataclass
class World:
    """World is the API server of one soak, as the conductor sees it."""

    configuration: kubernetes.client.Configuration
    kubeconfig: Path
    namespace: str
    description: str
    kube_context: str | None = None
    simulator: SimulatorProcess | None = None
    control: Control | None = None
    _audit_seq: int = field(default=0, repr=False)

    @property
    def control_url(self) -> str | None:
        """The simulator's URL, for the worker's scenario control; None on a cluster."""
        return None if self.simulator is None else self.simulator.url

    @property
    def control_token(self) -> str | None:
        """The simulator's bearer token; None on a cluster."""
        return None if self.simulator is None else self.simulator.token

    def open_watches_after_stop(self, grace: float) -> list[dict[str, Any]]:
        """Watches still open on the server, once ``grace`` seconds allowed them
        to close. Only the simulator can list them; on a cluster this is empty
        and the watch count comes from ``/metrics``."""
        if self.control is None:
            return []
        deadline = time.monotonic() + grace
        watches = self.control.open_watches()
        while watches and time.monotonic() < deadline:
            time.sleep(WATCH_POLL_INTERVAL)
            watches = self.control.open_watches()
        return watches

    def audit_since_last(self) -> list[dict[str, Any]]:
        """The requests the simulator served since the previous call."""
        if self.control is None:
            return []
        records = self.control.audit(since=self._audit_seq)
        if records:
            self._audit_seq = max(int(record["seq"]) for record in records)
        return records


@contextmanager
def open_world(options: SoakOptions) -> Iterator[World]:
    """Start the simulator, or connect to the cluster of ``options.kubeconfig``."""
    if options.kubeconfig is None:
        with _simulated(options) as world:
            yield world
    else:
        with _cluster(options, options.kubeconfig) as world:
            yield world


@contextmanager
def _simulated(options: SoakOptions) -> Iterator[World]:
    options.log_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = options.log_dir / "simulator.kubeconfig"
    with SimulatorProcess(
        objects=options.objects,
        namespaces=options.namespaces,
        kubeconfig=kubeconfig,
    ) as simulator:
        logger.info("The API server simulator is serving at %s.", simulator.url)
        yield World(
            configuration=simulator.configuration(),
            kubeconfig=simulator.kubeconfig,
            namespace=simulator.namespaces[0],
            description=f"simulator at {simulator.url}",
            simulator=simulator,
            control=Control.from_simulator(simulator, churn_rate=options.churn),
        )


@contextmanager
def _cluster(options: SoakOptions, kubeconfig: Path) -> Iterator[World]:
    configuration = load_configuration(kubeconfig, options.context)
    version = _reach(configuration)

    with kubernetes.client.ApiClient(configuration) as api:
        # NB: leakhunt works in a namespace of its own and removes it at the
        # end, so a soak never touches the cluster's existing objects.
        namespace = f"leakhunt-{secrets.token_hex(4)}"
        core = kubernetes.client.CoreV1Api(api)
        core.create_namespace(
            kubernetes.client.V1Namespace(
                metadata=kubernetes.client.V1ObjectMeta(name=namespace)
            )
        )
        logger.info("Created namespace %s on %s.", namespace, configuration.host)
        try:
            _seed_cluster(core, namespace, options.objects)
            yield World(
                configuration=configuration,
                kubeconfig=kubeconfig,
                namespace=namespace,
                description=f"cluster {configuration.host} (Kubernetes "
                f"{version.git_version})",
                kube_context=options.context,
            )
        finally:
            core.delete_namespace(namespace, propagation_policy="Background")
            logger.info("Deleted namespace %s.", namespace)


UNSCHEDULABLE = {"leakhunt.dev/never-schedule": "true"}
"""A node selector no node matches: seeded pods stay Pending and run nothing."""


def _seed_cluster(
    core: kubernetes.client.CoreV1Api, namespace: str, count: int
) -> None:
    for index in range(count):
        body = seed.pod(f"pod-{index}", namespace, index)
        body.pop("status", None)
        body["metadata"] = {
            key: body["metadata"][key] for key in ("name", "namespace", "labels")
        }
        body["spec"].pop("nodeName", None)
        body["spec"]["nodeSelector"] = UNSCHEDULABLE
        pod = kubernetes.client.V1Pod.from_dict(body)
        assert pod is not None, "a seeded pod is never empty"
        core.create_namespaced_pod(namespace, pod)
    logger.info("Seeded %d pending pods in namespace %s.", count, namespace)


def _reach(
    configuration: kubernetes.client.Configuration,
) -> kubernetes.client.VersionInfo:
    """The cluster's version, or a one-line error when it cannot be reached."""
    # NB: one attempt only: the client's default retries would log a warning
    # per retry before the error that says it all.
    probe = copy.copy(configuration)
    probe.retries = False
    with kubernetes.client.ApiClient(probe) as api:
        try:
            return kubernetes.client.VersionApi(api).get_code(
                _request_timeout=REACH_TIMEOUT
            )
        except (ApiException, HTTPError, OSError) as exc:
            raise ServerError(
                f"could not reach the API server at {configuration.host}: "
                f"{_short(exc)}; check the cluster is up and --context is right"
            ) from exc


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

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
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
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
from leakhunt.errors import AccessDenied, LeakhuntError

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
def open_world(
    options: SoakOptions, *, before_writes: Callable[[], None] = lambda: None
) -> Iterator[World]:
    """Start the simulator, or connect to the cluster of ``options.kubeconfig``.

    On a cluster, ``before_writes`` runs once the cluster has answered and
    before leakhunt creates anything there: what it raises leaves no trace.
    """
    if options.kubeconfig is None:
        with _simulated(options) as world:
            yield world
    else:
        with _cluster(options, options.kubeconfig, before_writes) as world:
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
def _cluster(
    options: SoakOptions, kubeconfig: Path, before_writes: Callable[[], None]
) -> Iterator[World]:
    configuration = load_configuration(kubeconfig, options.context)
    version = _reach(configuration)
    host = configuration.host
    before_writes()

    with kubernetes.client.ApiClient(configuration) as api:
        # NB: leakhunt works in a namespace of its own and removes it at the
        # end, so a soak never touches the cluster's existing objects.
        namespace = f"leakhunt-{secrets.token_hex(4)}"
        core = kubernetes.client.CoreV1Api(api)
        with _refusals(host, "create", "namespaces", "cluster-wide"):
            core.create_namespace(
                kubernetes.client.V1Namespace(
                    metadata=kubernetes.client.V1ObjectMeta(name=namespace)
                )
            )
        logger.info("Created namespace %s on %s.", namespace, host)
        try:
            with _refusals(host, "create", "pods", f"in namespace {namespace}"):
                _seed_cluster(core, namespace, options.objects)
            yield World(
                configuration=configuration,
                kubeconfig=kubeconfig,
                namespace=namespace,
                description=f"cluster {host} (Kubernetes {version.git_version})",
                kube_context=options.context,
            )
        finally:
            _delete_namespace(core, namespace, host)


NEEDED_RBAC = (
    "create and delete on namespaces, create on pods, and get on the /metrics "
    "non-resource URL"
)
"""What a soak on a real cluster asks of the kubeconfig's user, beyond what
the controller itself needs."""


@contextmanager
def _refusals(host: str, verb: str, resource: str, where: str) -> Iterator[None]:
    """Turn the API server's refusal of ``verb`` on ``resource`` into one line.

    401 and 403 are the user's to fix (credentials, RBAC): exit code 2. Any
    other status, or a server that stops answering, is a failed run: 3.
    """
    what = f"{verb} {resource} {where}"
    try:
        yield
    except ApiException as exc:
        denied = _denied(host, what, exc.status)
        if denied is not None:
            raise denied from None
        raise ServerError(
            f"the API server at {host} answered {exc.status} {exc.reason} when "
            f"leakhunt tried to {what}: {_status_message(exc)}"
        ) from None
    except (HTTPError, OSError) as exc:
        raise ServerError(
            f"the API server at {host} stopped answering when leakhunt tried to "
            f"{what}: {_short(exc)}"
        ) from None


def _denied(host: str, what: str, status: int | None) -> AccessDenied | None:
    """The error for a 401 or a 403, naming what to fix; None for other codes."""
    if status == 401:
        return AccessDenied(
            f"the API server at {host} answered 401 Unauthorized when leakhunt "
            f"tried to {what}; check the token or credentials of the kubeconfig's "
            "user"
        )
    if status == 403:
        return AccessDenied(
            f"the API server at {host} answered 403 Forbidden when leakhunt tried "
            f"to {what}; give the kubeconfig's user RBAC permission for "
            f"{NEEDED_RBAC}"
        )
    return None


def _delete_namespace(
    core: kubernetes.client.CoreV1Api, namespace: str, host: str
) -> None:
    """Delete leakhunt's namespace; a failure is a warning that names it."""
    try:
        with _refusals(host, "delete", "namespaces", namespace):
            core.delete_namespace(namespace, propagation_policy="Background")
    except (LeakhuntError, ServerError) as exc:
        logger.warning(
            "Namespace %s is left behind on %s: %s. Delete it with "
            "'kubectl delete namespace %s'.",
            namespace,
            host,
            exc,
            namespace,
        )
        return
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
    host = configuration.host
    # NB: one attempt only: the client's default retries would log a warning
    # per retry before the error that says it all.
    probe = copy.copy(configuration)
    probe.retries = False
    with kubernetes.client.ApiClient(probe) as api:
        try:
            return kubernetes.client.VersionApi(api).get_code(
                _request_timeout=REACH_TIMEOUT
            )
        except ApiException as exc:
            denied = _denied(host, "read its version", exc.status)
            if denied is not None:
                raise denied from None
            reason = f"{exc.status} {exc.reason}"
        except (HTTPError, OSError) as exc:
            reason = _short(exc)
    raise ServerError(
        f"could not reach the API server at {host}: {reason}; check the cluster "
        "is up and --context is right"
    )


def _status_message(exc: ApiException) -> str:
    """The message of the ``metav1.Status`` an error carries, or its reason."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        return str(exc.reason)
    if not isinstance(status, dict):
        return str(exc.reason)
    return str(status.get("message") or exc.reason)


def _short(exc: object) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if isinstance(exc, HTTPError) and reason else exc)
    return text.splitlines()[0] if text else type(exc).__name__

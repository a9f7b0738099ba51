"""A small kopf operator on pods, run under the async contract.

kopf is how many Python operators are written, so leakhunt soaks one as it is
deployed: :func:`kopf.operator` on the harness's event loop, namespaced to
``ctx.namespace`` and filtered by ``ctx.label_selector``, with handlers on pod
creation, update and deletion, and ``ctx.stop`` as kopf's stop flag.

Everything kopf keeps is built per call: the registry that holds the handlers,
the settings, the credentials vault. Handlers registered with the bare
decorators go to kopf's process-wide default registry, which would grow by one
set of handlers every cycle; here every decorator is given this call's
registry. The login handler hands kopf the server and token of
``ctx.configuration`` rather than letting it look for a kubeconfig or a
cluster it might find elsewhere.

Soak it with ``leakhunt soak harness.controllers.kopf_operator:controller``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf
from kubernetes.client import Configuration

from harness.controllers.context import AsyncControllerContext

logger = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 60
"""How long the server keeps one of kopf's watches open before it is re-opened."""

READ_SLACK_SECONDS = 5.0
"""How much longer than the server's watch timeout kopf waits for a byte."""

STOP_GRACE_SECONDS = 0.5
"""How long kopf may take to stop by itself before the operator is cancelled."""

LEFTOVER_GRACE_SECONDS = 5.0
"""How long the tasks kopf started may take to end after its operator has
returned (cancelled, kopf's own stop waits for some of them in steps of
seconds) before they are cancelled in turn."""


def parse_labels(selector: str | None) -> dict[str, str]:
    """The ``key=value`` terms of a label selector, as kopf's ``labels=`` filter.

    Only equality terms are understood: kopf filters on the client side by
    exact values, and that is all the seeded pods need.
    """
    if not selector:
        return {}

    labels: dict[str, str] = {}
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if not sep or key.endswith("!"):
            raise ValueError(
                f"expected a label selector of key=value terms such as "
                f"'app=leakhunt', got {selector!r}"
            )
        labels[key.strip()] = value.strip().lstrip("=")
    return labels


def connection_info(configuration: Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials for the server, token and certificates of ``configuration``.

    The token is read through ``auth_settings()``, the way the client itself
    sends it: a kubeconfig loads it under ``BearerToken`` with the scheme in
    the value, a hand-made configuration under ``authorization`` with the
    scheme as a prefix, and a refresh hook may renew it.
    """
    setting = configuration.auth_settings().get("BearerToken")
    header = str(setting["value"] or "") if setting is not None else ""
    scheme, _, token = header.partition(" ")
    if not token:
        scheme, token = "Bearer", header

    return kopf.ConnectionInfo(
        server=configuration.host,
        scheme=scheme if token else None,
        token=token or None,
        ca_path=configuration.ssl_ca_cert,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        insecure=not configuration.verify_ssl,
        default_namespace=None,
    )


def build_registry(ctx: AsyncControllerContext) -> kopf.OperatorRegistry:
    """A registry holding the login handler and the pod handlers for ``ctx``."""
    registry = kopf.OperatorRegistry()
    labels = parse_labels(ctx.label_selector)
    info = connection_info(ctx.configuration)

    # Every handler is a coroutine: kopf runs synchronous ones in a thread
    # pool, which would add threads to watch for.
    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return info

    @kopf.on.create("v1", "pods", registry=registry, labels=labels)
    async def created(*, name: str, namespace: str | None, **_: Any) -> dict[str, str]:
        logger.debug("Pod %s/%s was created.", namespace, name)
        return {"seen": "created"}

    @kopf.on.update("v1", "pods", registry=registry, labels=labels)
    async def updated(*, name: str, namespace: str | None, **_: Any) -> None:
        logger.debug("Pod %s/%s was updated.", namespace, name)

    @kopf.on.delete("v1", "pods", registry=registry, labels=labels, optional=True)
    async def deleted(*, name: str, namespace: str | None, **_: Any) -> None:
        logger.debug("Pod %s/%s was deleted.", namespace, name)

    return registry


def build_settings() -> kopf.OperatorSettings:
    """Settings for an operator started and stopped many times in one process."""
    settings = kopf.OperatorSettings()

    # Kubernetes events would be posted after the stop, from a queue that the
    # next cycle never drains.
    settings.posting.enabled = False

    # NB: kopf arms a SIGKILL of its own thread when it exits without its stop
    # flag set; in a process that hosts the operator for many cycles that
    # would kill the host.
    settings.process.ultimate_exiting_timeout = None

    # A namespaced operator on a built-in resource needs no cluster-wide watch
    # of namespaces and CRDs; without it kopf lists and watches pods only.
    settings.scanning.disabled = True

    settings.watching.server_timeout = WATCH_TIMEOUT_SECONDS
    settings.watching.client_timeout = WATCH_TIMEOUT_SECONDS + READ_SLACK_SECONDS
    return settings


async def controller(ctx: AsyncControllerContext) -> None:
    """The entry point: run a kopf operator until ``ctx.stop`` is set."""
    logger.info("kopf operator starting on namespace %s.", ctx.namespace)
    settings = build_settings()
    before = asyncio.all_tasks()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(ctx),
            settings=settings,
            namespaces=[ctx.namespace],
            standalone=True,
            stop_flag=ctx.stop,
        ),
        name=f"kopf operator on {ctx.namespace}",
    )

    try:
        await ctx.stop.wait()

        # NB: stopped before its watches are up, kopf waits 5 s for tasks it
        # started (a pause waiter among them) before it cancels them. Past a
        # grace period the operator is cancelled instead, which kopf handles
        # by cancelling its tasks at once.
        done, _ = await asyncio.wait({operator}, timeout=STOP_GRACE_SECONDS)
        if not done:
            logger.info(
                "kopf operator on namespace %s is still stopping after %.1f s; "
                "cancelling it.",
                ctx.namespace,
                STOP_GRACE_SECONDS,
            )
            operator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await operator
    finally:
        # NB: each settings object owns a thread pool for synchronous handlers
        # that kopf never shuts down; its threads would only go when the
        # garbage collector finds the settings.
        if not operator.done():
            operator.cancel()
        settings.execution.executor.shutdown(wait=False)
        await _end_leftovers(before | {operator}, ctx.namespace)
    logger.info("kopf operator on namespace %s stopped.", ctx.namespace)


async def _end_leftovers(known: set[asyncio.Task[Any]], namespace: str) -> None:
    """Wait for the tasks kopf started to end; cancel those that do not.

    NB: when the operator is cancelled while it is busy (its first sight of
    the pods, on a loaded machine), kopf returns while its scheduler, its
    credentials retriever and its orchestrator, which stops its watch streams
    in steps of seconds, are still running: leakhunt saw 7 to 20 of them still
    pending after the stop, ending one or two cycles later.
    """
    current = asyncio.current_task()
    leftovers = {
        task
        for task in asyncio.all_tasks()
        if task not in known and task is not current
    }
    if not leftovers:
        return

    _, pending = await asyncio.wait(leftovers, timeout=LEFTOVER_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    logger.info(
        "kopf left %d task(s) running on namespace %s after its operator "
        "returned; %d ended within %.1f s and %d were cancelled.",
        len(leftovers),
        namespace,
        len(leftovers) - len(pending),
        LEFTOVER_GRACE_SECONDS,
        len(pending),
    )

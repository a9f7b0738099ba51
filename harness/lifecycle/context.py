"""The context a controller under test is given for one cycle."""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import kubernetes.client
import kubernetes.config

from harness.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_LABEL_SELECTOR = "app=leakhunt"
"""The label the harness puts on every object it seeds."""

StopEvent = threading.Event | asyncio.Event
"""The stop signal: a thread event for sync controllers, an asyncio one for async."""


@dataclass
class Context:
    """Context is what a controller receives for one cycle (``ctx``).

    ``configuration`` points the official client at the API server under test
    (pass it to ``kubernetes.client.ApiClient``); ``kubeconfig`` is the same
    server as a file, for clients that read one (kubernetes_asyncio, kopf).
    ``namespace`` is where the seeded objects live, ``label_selector`` selects
    them. ``stop`` is set when the controller must stop: a
    :class:`threading.Event` for factory and generator controllers, an
    :class:`asyncio.Event` bound to the controller's own loop for async ones.
    ``cycle`` counts from 0 and is there for log messages.
    """

    configuration: kubernetes.client.Configuration
    kubeconfig: Path
    namespace: str
    stop: StopEvent
    cycle: int
    label_selector: str | None = DEFAULT_LABEL_SELECTOR


@dataclass(frozen=True)
class ContextFactory:
    """ContextFactory makes a fresh :class:`Context` for each cycle.

    Each context gets its own copy of ``configuration``, so a controller that
    mutates it (or caches it) cannot carry state from one cycle to the next
    through the harness.
    """

    configuration: kubernetes.client.Configuration
    kubeconfig: Path
    namespace: str
    label_selector: str | None = DEFAULT_LABEL_SELECTOR

    def __call__(self, cycle: int, stop: StopEvent) -> Context:
        """Build the context of cycle ``cycle`` around the stop event ``stop``."""
        return Context(
            configuration=copy.deepcopy(self.configuration),
            kubeconfig=self.kubeconfig,
            namespace=self.namespace,
            stop=stop,
            cycle=cycle,
            label_selector=self.label_selector,
        )

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: Path,
        namespace: str,
        *,
        context: str | None = None,
        label_selector: str | None = DEFAULT_LABEL_SELECTOR,
    ) -> ContextFactory:
        """Load ``kubeconfig`` (and its ``context``) into a factory.

        Raises :class:`ConfigurationError` when the file is missing or has no
        such context.
        """
        configuration = load_configuration(kubeconfig, context)
        logger.debug(
            "Loaded kubeconfig %s for API server %s, namespace %s.",
            kubeconfig,
            configuration.host,
            namespace,
        )
        return cls(
            configuration=configuration,
            kubeconfig=kubeconfig,
            namespace=namespace,
            label_selector=label_selector,
        )


def load_configuration(
    kubeconfig: Path, context: str | None = None
) -> kubernetes.client.Configuration:
    """Load the client configuration of ``context`` (or the current one).

    Raises :class:`ConfigurationError`, naming the contexts the file has,
    when the file is missing or has no such context.
    """
    if not kubeconfig.is_file():
        raise ConfigurationError(
            f"no kubeconfig at {str(kubeconfig)!r}; pass the path of an existing file"
        )

    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(
            config_file=str(kubeconfig),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except kubernetes.config.ConfigException as exc:
        contexts = _context_names(kubeconfig)
        if context is not None and context not in contexts:
            raise ConfigurationError(
                f"no context {context!r} in {kubeconfig}; it has "
                f"{', '.join(contexts) or 'no contexts'}"
            ) from None
        raise ConfigurationError(
            f"cannot use kubeconfig {str(kubeconfig)!r}: {exc}"
        ) from None
    return configuration


def _context_names(kubeconfig: Path) -> list[str]:
    try:
        contexts, _ = kubernetes.config.list_kube_config_contexts(str(kubeconfig))
    except (kubernetes.config.ConfigException, OSError, ValueError):
        return []
    return [str(item["name"]) for item in contexts or []]

"""The context a controller under test is given for one cycle."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config

from harness.errors import ConfigurationError

logger = logging.getLogger(__name__)

# NB: PyYAML is the official client's own kubeconfig parser and ships no type
# hints; it is used here only to tell a file that is not a kubeconfig apart
# before the client indexes into it.
yaml: Any = importlib.import_module("yaml")

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
    when the file is missing, is not a kubeconfig, has no such context, or
    names an exec credential plugin that fails.
    """
    _check_kubeconfig_file(kubeconfig)

    configuration = kubernetes.client.Configuration()
    try:
        with _plugin_errors() as plugin_errors:
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
            f"cannot use kubeconfig {str(kubeconfig)!r}: {_one_line(exc)}"
        ) from None
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # NB: the client indexes into the YAML without checking its shape, so
        # a field of the wrong type surfaces as whatever indexing it raised.
        raise ConfigurationError(
            f"cannot use kubeconfig {str(kubeconfig)!r}: a field has the wrong"
            f" shape ({type(exc).__name__}: {_one_line(exc)}); compare it with"
            " 'kubectl config view'"
        ) from None

    if plugin_errors:
        raise ConfigurationError(
            f"cannot use kubeconfig {str(kubeconfig)!r}: its user's exec"
            f" credential plugin failed: {plugin_errors[0]}; check that the"
            " plugin's command is installed and on PATH"
        )
    return configuration


def _check_kubeconfig_file(kubeconfig: Path) -> None:
    """Refuse a path that is not a YAML mapping, before the client indexes it."""
    if not kubeconfig.is_file():
        raise ConfigurationError(
            f"no kubeconfig at {str(kubeconfig)!r}; pass the path of an existing file"
        )

    try:
        text = kubeconfig.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"expected a kubeconfig (YAML text) at {str(kubeconfig)!r}, but it is"
            " not UTF-8 text; pass the path of a kubeconfig file"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read kubeconfig {str(kubeconfig)!r}: {exc.strerror or exc}"
        ) from None

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"expected a kubeconfig (YAML) at {str(kubeconfig)!r}, but it is not"
            f" valid YAML: {_one_line(exc)}"
        ) from None
    if document is not None and not isinstance(document, dict):
        raise ConfigurationError(
            f"expected a kubeconfig at {str(kubeconfig)!r} to be a YAML mapping"
            " with clusters, contexts and users, got a"
            f" {type(document).__name__}"
        )


class _RootErrors(logging.Filter):
    """Keeps the errors logged to the root logger instead of letting them print."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.messages.append(_one_line(record.getMessage()))
            return False
        return True


@contextlib.contextmanager
def _plugin_errors() -> Iterator[list[str]]:
    """The errors the client logs while loading a kubeconfig.

    NB: the client runs an exec credential plugin while loading, and when the
    plugin fails it logs the error to the root logger (an extra ``ERROR
    root:`` line) and goes on without credentials. The error is caught here
    so it can be reported as the one line that explains the failure.
    """
    root = logging.getLogger()
    errors = _RootErrors()
    root.addFilter(errors)
    try:
        yield errors.messages
    finally:
        root.removeFilter(errors)


def _one_line(exc: object) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _context_names(kubeconfig: Path) -> list[str]:
    try:
        contexts, _ = kubernetes.config.list_kube_config_contexts(str(kubeconfig))
    except (kubernetes.config.ConfigException, OSError, ValueError):
        return []
    return [str(item["name"]) for item in contexts or []]

"""Loading a kubeconfig into the context a controller is given."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.errors import ConfigurationError
from harness.lifecycle.context import ContextFactory, load_configuration

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: dev
clusters:
- {name: dev, cluster: {server: 'http://127.0.0.1:6443'}}
- {name: prod, cluster: {server: 'http://127.0.0.1:7443'}}
contexts:
- {name: dev, context: {cluster: dev, user: me}}
- {name: prod, context: {cluster: prod, user: me}}
users:
- {name: me, user: {token: secret}}
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


def test_the_current_context_is_used_unless_one_is_named(kubeconfig: Path) -> None:
    assert load_configuration(kubeconfig).host == "http://127.0.0.1:6443"
    assert load_configuration(kubeconfig, "prod").host == "http://127.0.0.1:7443"


def test_a_missing_kubeconfig_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no kubeconfig at '.*nowhere'"):
        load_configuration(tmp_path / "nowhere")


def test_an_unknown_context_lists_the_contexts_the_file_has(kubeconfig: Path) -> None:
    with pytest.raises(ConfigurationError) as error:
        load_configuration(kubeconfig, "staging")

    assert str(error.value) == f"no context 'staging' in {kubeconfig}; it has dev, prod"


def test_each_cycle_gets_its_own_copy_of_the_configuration(kubeconfig: Path) -> None:
    contexts = ContextFactory.from_kubeconfig(kubeconfig, "team-a")

    first = contexts(0, threading.Event())
    second = contexts(1, threading.Event())

    assert first.configuration is not second.configuration
    assert first.configuration.host == second.configuration.host
    assert (first.namespace, first.cycle, second.cycle) == ("team-a", 0, 1)

"""Loading a kubeconfig into the context a controller is given."""

from __future__ import annotations

import logging
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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\xd0\xff", "but it is not UTF-8 text"),
        (b"- a\n- b\n", "to be a YAML mapping with clusters, contexts and users"),
        (b"clusters: [\n", "but it is not valid YAML: while parsing"),
        (b"apiVersion: v1\ncontexts: 5\ncurrent-context: x\n", "has the wrong shape"),
    ],
)
def test_a_file_that_is_not_a_kubeconfig_is_one_line_naming_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)

    with pytest.raises(ConfigurationError) as error:
        load_configuration(path)

    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_exec_plugin_is_one_error_and_nothing_on_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        KUBECONFIG.replace(
            "{token: secret}",
            "{exec: {apiVersion: client.authentication.k8s.io/v1beta1,"
            " command: leakhunt-no-such-plugin}}",
        )
    )

    with pytest.raises(ConfigurationError) as error:
        load_configuration(path)

    assert "exec credential plugin failed" in str(error.value)
    assert "leakhunt-no-such-plugin" in str(error.value)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

"""Chain graphs: .dot always, .svg when Graphviz is installed, a note when not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leakhunt.report.graph import GRAPHVIZ_MISSING, chain_dot, write_chain_graphs

CHAIN = {
    "type": "kubernetes.client.models.v1_pod.V1Pod",
    "root": "module myop.registry",
    "hops": [
        {"edge": "attribute", "label": "_INFORMERS", "type": "builtins.list"},
        {"edge": "index", "label": "[3]", "type": "kubernetes.informer.SharedInformer"},
        {"edge": "key", "label": "['ns/\"pod\"']", "type": "V1Pod"},
    ],
    "nodes": ["module myop.registry", "list (4 items)", "SharedInformer", "V1Pod"],
}


def test_the_dot_text_labels_each_edge_as_the_code_names_it() -> None:
    dot = chain_dot(CHAIN)

    assert dot.startswith("digraph retention {")
    assert 'n0 -> n1 [label="_INFORMERS"];' in dot
    assert 'n1 -> n2 [label="[3]"];' in dot
    assert 'n2 -> n3 [label="[\'ns/\\"pod\\"\']"];' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_with_graphviz_each_chain_is_drawn_as_svg(tmp_path: Path) -> None:
    graphs, notes = write_chain_graphs([CHAIN], tmp_path)

    assert notes == []
    assert graphs[0]["dot"] == str(tmp_path / "chain-V1Pod.dot")
    svg = Path(str(graphs[0]["svg"])).read_text()
    assert "<svg" in svg
    assert "_INFORMERS" in svg


def test_without_graphviz_the_dot_is_written_and_the_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    graphs, notes = write_chain_graphs([CHAIN], tmp_path)

    assert notes == [GRAPHVIZ_MISSING]
    assert graphs[0]["svg"] is None
    assert Path(str(graphs[0]["dot"])).read_text() == chain_dot(CHAIN)

"""The HTML report: one self-contained page with a plot per signal and the evidence.

The page opens from disk with no network and no script: styles are inline,
plots are inline SVG drawn by :mod:`leakhunt.report.plots`, retention chain
drawings made by Graphviz are inlined when their files still exist, and a
Content-Security-Policy of ``default-src 'none'`` makes any stray reference
to an outside resource fail rather than load. It leads with the verdict,
then the findings grouped by kind (the grown object types as one group,
the top ones named), the evidence of each group, and the plots.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from leakhunt.analysis.signals import default_signals
from leakhunt.report.evidence import shown_origins
from leakhunt.report.model import (
    FINDING_KINDS,
    OBJECT_GROWTH,
    Finding,
    Report,
    sort_findings,
)
from leakhunt.report.plots import Plot, fit_line
from leakhunt.report.terminal import verdict_line
from leakhunt.units import format_quantity

logger = logging.getLogger(__name__)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Nothing may load from anywhere: the page carries everything it shows."""

MAX_TYPES_NAMED = 10
"""Grown object types listed by name in the object-growth group."""

MAX_PLOTS = 48
"""Signals plotted: every flagged one first, then the process-wide ones."""

MAX_ITEMS = 10
"""Sites, threads, fds or sockets listed per group."""

MAX_STACK_LINES = 12
"""Innermost lines of a leaked thread's stack shown."""

MAX_INLINE_SVG_BYTES = 512 * 1024
"""A Graphviz drawing larger than this is linked by path, not inlined."""

_TYPE_PREFIX = "objects."

Renderer = Callable[[object, Mapping[str, object]], str]
"""Renders one kind of evidence: the value, and the whole evidence it is in."""

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;
color:#222;padding:0 16px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #ddd;padding-bottom:4px} h3{font-size:15px;margin:18px 0 6px}
.verdict{font-size:16px;padding:10px 14px;border-radius:6px;margin:12px 0}
.fail{background:#fdecea;border:1px solid #e4a8a1}
.pass{background:#e9f6ec;border:1px solid #9fd3ac}
table{border-collapse:collapse;margin:6px 0} td,th{padding:3px 10px 3px 0;
text-align:left;vertical-align:top} th{color:#555;font-weight:600}
code,pre{font:12.5px/1.4 ui-monospace,monospace} pre{background:#f6f6f6;
padding:8px;overflow-x:auto;margin:4px 0}
.muted{color:#666} .note{fill:#888;font-size:11px} .tick{fill:#555;font-size:11px}
.plot-title{font-size:12.5px;font-weight:600;fill:#222}
.plots{display:flex;flex-wrap:wrap;gap:10px} figure{margin:0;border:1px solid #e3e3e3;
border-radius:4px;padding:4px} .flagged{border-color:#e4a8a1}
ol.chain{margin:4px 0;padding-left:22px} ol.chain li{font-family:ui-monospace,monospace;
font-size:12.5px} .graph svg{max-width:100%;height:auto}
details summary{cursor:pointer}
"""


def render_html(report: Report, *, folder: Path | None = None) -> str:
    """Return the whole report as one self-contained HTML page.

    ``folder`` is where the page will be written: links to the run's files
    (the memray capture) are made relative to it, so that they still work
    when the page and the run's directory are moved together.
    """
    verdict = verdict_line(report).plain
    target = str(report.meta.get("target", "the controller"))
    findings = sort_findings(report.findings)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>leakhunt: {_e(target)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>leakhunt report: {_e(target)}</h1>",
        f'<div class="verdict {"pass" if report.passed else "fail"}" id="verdict">'
        f"{_e(verdict)}</div>",
        _run_table(report),
    ]
    parts.append(_findings_section(findings))
    carried = any("allocation_sites" in f.evidence for f in findings)
    parts.append(
        _attribution_section(
            report.meta.get("attribution"), carried=carried, folder=folder
        )
    )
    if report.error is not None:
        parts.append(_error_section(report.error))
    parts.append(_plots_section(report, findings))
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part)


def write_html(report: Report, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path`` and return the path."""
    target = Path(path)
    page = render_html(report, folder=target.parent.absolute())
    target.write_text(page, encoding="utf-8")
    logger.info("Wrote the HTML report to %s.", target)
    return target


def _run_table(report: Report) -> str:
    meta = report.meta
    rows = [
        ("scenario", meta.get("scenario")),
        ("cycles", report.cycles),
        ("warm-up", "detected per signal" if report.warmup is None else report.warmup),
        ("server", meta.get("server")),
        ("seconds", meta.get("seconds")),
        ("worker log", meta.get("worker_log")),
    ]
    cells = "".join(
        f"<tr><th>{_e(name)}</th><td>{_e(str(value))}</td></tr>"
        for name, value in rows
        if value is not None and not isinstance(value, dict)
    )
    return f'<table class="run">{cells}</table>'


def _findings_section(findings: Sequence[Finding]) -> str:
    if not findings:
        return "<h2>Findings</h2><p>Nothing grows and nothing stays behind.</p>"

    parts = ["<h2>Findings</h2>"]
    # Memory and object findings of one leak share their attribution: each
    # piece of evidence is shown under the first group that carries it.
    shown: set[str] = set()
    order = {kind: index for index, kind in enumerate(FINDING_KINDS)}
    kinds = sorted({f.kind for f in findings}, key=lambda k: order.get(k, len(order)))
    for kind in kinds:
        group = [f for f in findings if f.kind == kind]
        parts.append(f'<section class="finding" data-kind="{_e(kind)}">')
        parts.append(f"<h3>{_e(kind)}</h3>")
        types = [f for f in group if kind == OBJECT_GROWTH and _is_type(f)]
        signals = [f for f in group if f not in types]
        if signals:
            parts.append(_signal_table(signals))
        if types:
            parts.append(_types_table(types))
        parts.append(_group_evidence(group, shown))
        parts.append("</section>")
    return "\n".join(parts)


def _signal_table(findings: Sequence[Finding]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(f.signal)}</code></td><td>{_e(_growth(f))}</td>"
        f'<td>{_e(f.message)}</td><td class="muted">{f.confidence:.1%}</td></tr>'
        for f in findings
    )
    return (
        "<table><tr><th>signal</th><th>growth per cycle</th><th>what it means</th>"
        f"<th>confidence</th></tr>{rows}</table>"
    )


def _types_table(findings: Sequence[Finding]) -> str:
    ranked = sorted(findings, key=lambda f: f.per_cycle, reverse=True)
    rows = "".join(
        f"<tr><td><code>{_e(f.signal.removeprefix(_TYPE_PREFIX))}</code></td>"
        f"<td>{_e(_growth(f))}</td></tr>"
        for f in ranked[:MAX_TYPES_NAMED]
    )
    more = len(ranked) - MAX_TYPES_NAMED
    tail = f'<p class="muted">...and {more} more types</p>' if more > 0 else ""
    return (
        f"<p>{len(ranked)} object types grow per cycle:</p>"
        f"<table><tr><th>type</th><th>instances per cycle</th></tr>{rows}</table>{tail}"
    )


def _group_evidence(group: Sequence[Finding], shown: set[str]) -> str:
    """The evidence of a group of findings not already ``shown`` above."""
    parts: list[str] = []
    repeated: list[str] = []
    earlier = set(shown)
    for finding in group:
        evidence = finding.evidence
        for key, render in _EVIDENCE_RENDERERS:
            value = evidence.get(key)
            if not value:
                continue
            if key in shown:
                if key in earlier and key in _SHARED_EVIDENCE and key not in repeated:
                    repeated.append(key)
                continue
            shown.add(key)
            parts.append(render(value, evidence))
    if repeated:
        names = ", ".join(_SHARED_EVIDENCE[key] for key in repeated)
        parts.append(f'<p class="muted">{_e(names)}: as above.</p>')
    return "\n".join(part for part in parts if part)


def _origins(value: object, evidence: Mapping[str, object]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(str(o.get('where')))}</code></td>"
        f"<td>{_e(_rate(o))}</td><td><code>{_e(str(o.get('source')))}</code></td></tr>"
        for o in shown_origins(_dicts(value), MAX_ITEMS)
    )
    return (
        "<h4>Where in the code under test the memory goes back to</h4>"
        f"<table><tr><th>line</th><th>per cycle</th><th>source</th></tr>{rows}</table>"
    )


def _sites(value: object, evidence: Mapping[str, object]) -> str:
    items = []
    for site in _dicts(value)[:MAX_ITEMS]:
        frames = "\n".join(
            f"{frame.get('file')}:{frame.get('line')}  {frame.get('source')}"
            for frame in _dicts(site.get("traceback"))
        )
        items.append(
            f"<li><code>{_e(str(site.get('where')))}</code> {_e(_rate(site))}, "
            f"{_e(str(site.get('blocks_per_cycle')))} blocks per cycle: "
            f"<code>{_e(str(site.get('line')))}</code>"
            "<details><summary>traceback</summary>"
            f"<pre>{_e(frames)}</pre></details></li>"
        )
    return (
        "<h4>Allocation sites growing every cycle (tracemalloc)</h4>"
        f'<ol class="sites">{"".join(items)}</ol>'
    )


def _memray_sites(value: object, evidence: Mapping[str, object]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(str(s.get('where')))}</code></td>"
        f"<td>{_e(str(s.get('function')))}</td><td>{_e(_rate(s))}</td></tr>"
        for s in _dicts(value)[:MAX_ITEMS]
    )
    command = evidence.get("memray_command")
    hint = (
        f"<p>memray's own flame graph of these leaks: "
        f"<code>{_e(str(command))}</code></p>"
        if command
        else ""
    )
    return (
        "<h4>Still allocated at the end of the capture (memray)</h4>"
        "<table><tr><th>site</th><th>function</th><th>per cycle</th></tr>"
        f"{rows}</table>{hint}"
    )


def _chain(value: object, evidence: Mapping[str, object]) -> str:
    if not isinstance(value, Mapping):
        return ""
    hops = "".join(
        f"<li>{_e(str(hop.get('label') or '(' + str(hop.get('edge')) + ')'))} "
        f'<span class="muted">({_e(str(hop.get("type")))})</span></li>'
        for hop in _dicts(value.get("hops"))
    )
    return (
        f"<h4>Held by <code>{_e(str(value.get('holder')))}</code></h4>"
        f'<p class="chain-root">{_e(str(value.get("root")))}</p>'
        f'<ol class="chain">{hops}</ol>'
    )


def _threads(value: object, evidence: Mapping[str, object]) -> str:
    items = []
    for thread in _dicts(value)[:MAX_ITEMS]:
        stack = [str(line) for line in _list(thread.get("stack"))][-MAX_STACK_LINES:]
        items.append(
            f"<li><code>{_e(str(thread.get('name')))}</code> "
            f"({_e(str(thread.get('target')))})"
            f"<pre>{_e(chr(10).join(stack))}</pre></li>"
        )
    return f"<h4>Threads left running</h4><ul>{''.join(items)}</ul>"


def _plain_items(title: str, fields: Sequence[str]) -> Renderer:
    def render(value: object, evidence: Mapping[str, object]) -> str:
        items = "".join(
            "<li><code>"
            + _e(" ".join(str(item.get(name, "")) for name in fields))
            + "</code></li>"
            for item in _dicts(value)[:MAX_ITEMS]
        )
        return f"<h4>{_e(title)}</h4><ul>{items}</ul>"

    return render


_EVIDENCE_RENDERERS: tuple[tuple[str, Renderer], ...] = (
    ("allocation_origins", _origins),
    ("allocation_sites", _sites),
    ("memray_sites", _memray_sites),
    ("retention_chain", _chain),
    ("threads", _threads),
    ("fds", _plain_items("Descriptors left open", ("fd", "target"))),
    (
        "sockets",
        _plain_items("Sockets left open", ("fd", "type", "local", "remote", "status")),
    ),
)


_SHARED_EVIDENCE: Mapping[str, str] = {
    "allocation_origins": "Lines of the code under test",
    "allocation_sites": "allocation sites",
    "memray_sites": "memray's leaked sites",
    "retention_chain": "the retention chain",
}
"""Evidence one attribution pass gives several findings, shown once."""


def _attribution_section(
    attribution: object, *, carried: bool, folder: Path | None
) -> str:
    """The pass itself; its sites too when no finding carried them (``--deep``)."""
    if not isinstance(attribution, Mapping):
        return ""

    parts = [
        "<h2>Attribution</h2>",
        f"<p>{_e(str(attribution.get('status')))}: "
        f"{_e(str(attribution.get('warmup')))} untraced warm-up cycles, then "
        f"{_e(str(attribution.get('cycles')))} traced cycles in "
        f"{_e(str(attribution.get('seconds')))} s.</p>",
    ]
    notes = [str(note) for note in _list(attribution.get("notes"))]
    if notes:
        parts.append(
            '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
        )
    memray = attribution.get("memray")
    if not carried:
        if attribution.get("allocation_origins"):
            parts.append(_origins(attribution["allocation_origins"], {}))
        if attribution.get("allocation_sites"):
            parts.append(_sites(attribution["allocation_sites"], {}))
        if isinstance(memray, Mapping) and memray.get("sites"):
            parts.append(_memray_sites(memray["sites"], {}))
    if isinstance(memray, Mapping) and memray.get("path") and not memray.get("note"):
        capture = str(memray["path"])
        href = _e(_link(capture, folder))
        parts.append(
            f'<p>memray capture: <a class="capture" href="{href}">'
            f"<code>{_e(capture)}</code></a>; draw its leaks with "
            f"<code>{_e(str(memray.get('command')))}</code></p>"
        )

    retention = attribution.get("retention")
    if isinstance(retention, Mapping):
        lead = retention.get("lead")
        if isinstance(lead, Mapping):
            parts.append(_chain(lead, {}))
        parts.extend(_graphs(_dicts(retention.get("graphs")), lead))
        others = [
            c for c in _dicts(retention.get("chains")) if c.get("text") != _get(lead)
        ]
        if others:
            listed = "".join(
                f"<li><code>{_e(str(c.get('text')))}</code></li>"
                for c in others[:MAX_ITEMS]
            )
            parts.append(
                f"<details><summary>{len(others)} more chains</summary>"
                f"<ul>{listed}</ul></details>"
            )
    return "\n".join(parts)


def _link(path: str, folder: Path | None) -> str:
    """A link to a file of the run: relative to the page's folder when both
    are known and on one drive, else an absolute ``file://`` URL."""
    target = Path(path).absolute()
    if folder is not None:
        try:
            return urllib.parse.quote(
                os.path.relpath(target, folder).replace(os.sep, "/")
            )
        except ValueError:  # another drive (Windows): no relative path
            pass
    return target.as_uri()


def _get(chain: object) -> object:
    return chain.get("text") if isinstance(chain, Mapping) else None


def _graphs(graphs: Sequence[Mapping[str, object]], lead: object) -> list[str]:
    lead_type = lead.get("type") if isinstance(lead, Mapping) else None
    parts: list[str] = []
    for graph in graphs:
        if graph.get("type") != lead_type:
            continue
        svg = _inline_svg(graph.get("svg"))
        if svg:
            parts.append(f'<div class="graph">{svg}</div>')
        parts.append(
            f'<p class="muted">Graph: <code>{_e(str(graph.get("dot")))}</code></p>'
        )
    return parts


def _inline_svg(path: object) -> str:
    if not path:
        return ""
    try:
        text = Path(str(path)).read_text(encoding="utf-8")
    except OSError:
        return ""
    if len(text) > MAX_INLINE_SVG_BYTES:
        return ""
    start = text.find("<svg")
    if start < 0:
        return ""
    # NB: the namespace declarations are names, not resources, but the page
    # promises no outside URL at all; inline SVG in HTML needs none of them.
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text[start:])
    return re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)


def _error_section(error: Mapping[str, object]) -> str:
    return (
        "<h2>Error</h2>"
        f"<p>Cycle {_e(str(error.get('cycle')))} raised {_e(str(error.get('type')))}: "
        f"{_e(str(error.get('message')))}</p>"
        f"<pre>{_e(str(error.get('traceback') or ''))}</pre>"
    )


def plots_for(report: Report, findings: Sequence[Finding]) -> list[Plot]:
    """One plot per flagged signal, then the process-wide signals, capped."""
    registry = default_signals()
    flagged = {f.signal: f for f in findings}
    names = [name for name in flagged if name in report.series]
    names += [
        name
        for name in report.series
        if name not in flagged and not name.startswith(_TYPE_PREFIX)
    ]

    plots: list[Plot] = []
    names = [name for name in names if _measured(report.series[name])]
    for name in names[:MAX_PLOTS]:
        values = report.series[name]
        finding = flagged.get(name)
        spec = registry.lookup(name)
        unit = finding.unit if finding else (spec.unit if spec else "count")
        warmup = _warmup_of(finding, report)
        trend = fit_line(values, warmup, finding.per_cycle if finding else None)
        title = f"{name}: {_growth(finding)}" if finding else name
        plots.append(
            Plot(
                signal=name,
                values=values,
                unit=unit,
                warmup=warmup,
                trend=trend,
                title=title,
                flagged=finding is not None,
            )
        )
    return plots


def _plots_section(report: Report, findings: Sequence[Finding]) -> str:
    plots = plots_for(report, findings)
    if not plots:
        return ""
    figures = "".join(
        f'<figure class="{"flagged" if plot.flagged else ""}">{plot.svg()}</figure>'
        for plot in plots
    )
    total = len([n for n in report.series if not n.startswith(_TYPE_PREFIX)])
    total += len([f for f in findings if f.signal.startswith(_TYPE_PREFIX)])
    more = total - len(plots)
    tail = f'<p class="muted">...and {more} more signals</p>' if more > 0 else ""
    return (
        '<h2>Signals per cycle</h2><p class="muted">Shaded: warm-up cycles. '
        "Dashed: the trend fitted over the judged cycles.</p>"
        f'<div class="plots">{figures}</div>{tail}'
    )


def _measured(values: Sequence[float]) -> bool:
    return any(math.isfinite(value) for value in values)


def _warmup_of(finding: Finding | None, report: Report) -> int:
    if finding is not None:
        value = finding.evidence.get("warmup")
        if isinstance(value, int):
            return value
    return report.warmup or 0


def _growth(finding: Finding | None) -> str:
    if finding is None:
        return ""
    growth = format_quantity(finding.per_cycle, finding.unit)
    if finding.ci_low is None or finding.ci_high is None:
        return growth
    low = format_quantity(finding.ci_low, finding.unit)
    high = format_quantity(finding.ci_high, finding.unit)
    return f"{growth} (CI {low} to {high})"


def _rate(item: Mapping[str, object]) -> str:
    value = item.get("bytes_per_cycle")
    if not isinstance(value, int | float):
        return ""
    return f"+{format_quantity(float(value), 'bytes')}/cycle"


def _is_type(finding: Finding) -> bool:
    return finding.signal.startswith(_TYPE_PREFIX)


def _dicts(value: object) -> list[Mapping[str, object]]:
    return [item for item in _list(value) if isinstance(item, Mapping)]


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _e(text: str) -> str:
    return html.escape(text, quote=True)

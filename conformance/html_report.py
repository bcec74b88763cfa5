"""The HTML report: one self-contained page (no network, no CDN) a provider's engineer can share.

It renders the same JSON report as the terminal and Markdown: the verdict per client at the top, the findings by
severity with their fixes, and the latency figures with small inline SVG charts of their distributions.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from conformance import clients
from conformance.report import LATENCY_FIGURES, SEVERITY_ORDER, behind, counts, label

STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:70rem;padding:0 .8rem;color:#1b1f24}
h1{margin:0 0 .2rem;font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#57606a;overflow-wrap:anywhere}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top;overflow-wrap:break-word}
th{background:#f6f8fa}.verdict{font-weight:600}.scroll,#verdicts{overflow-x:auto;max-width:100%}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.definitions{font-size:90%;color:#57606a;display:grid;grid-template-columns:auto 1fr;gap:0 .6rem}
.definitions dd{margin:0}
.works{color:#1a7f37}.works-with-warnings{color:#9a6700}.degraded{color:#bc4c00}.breaks{color:#cf222e}
.not-applicable{color:#57606a}.MUST{color:#cf222e}.SHOULD{color:#9a6700}.INFO{color:#0969da}
.id{white-space:nowrap}.finding>.id{font-weight:600}.model table{width:auto}
.finding{margin:.6rem 0;padding:.5rem .8rem;border-left:4px solid #d0d7de;background:#f6f8fa;overflow-wrap:anywhere}
.finding.MUST{border-color:#cf222e}.finding.SHOULD{border-color:#bf8700}.finding.INFO{border-color:#0969da}
.finding ul{padding-left:1.1rem;margin:.4rem 0}.finding dl{display:grid;grid-template-columns:auto 1fr;gap:0 .6rem;
margin:.3rem 0}.finding dt{color:#57606a}.finding dd{margin:0;min-width:0}
.fix{color:#1a7f37}code{font-size:90%}mark{background:#ffd8b5;color:inherit;padding:0 .1em}
pre{color:#1b1f24;white-space:pre-wrap;overflow-wrap:anywhere;font-size:85%;margin:.3rem 0;background:#fff;
padding:.4rem;border:1px solid #eaeef2}
details summary{cursor:pointer;color:#0969da;overflow-wrap:anywhere}
figure{margin:.6rem 0}svg{display:block;width:100%;max-width:34rem;height:auto;background:#fff;
border:1px solid #eaeef2}figcaption{font-size:90%;color:#57606a}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,24rem),1fr));gap:1rem}
@media (max-width:600px){body{font-size:14px;margin:.8rem auto;padding:0 .5rem}th,td{padding:.2rem;font-size:12px}}
"""
ID = re.compile(r"\b[A-Z]{2,4}-\d{3}\b")
"""A check ID in running text: kept on one line (``CS-004`` must not break at its hyphen on a phone)."""
EXCERPT_CHARS = 160


def _e(value: Any) -> str:
    return html.escape(str(value))


def _verdicts(profiles: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<tr data-profile="{_e(name)}"><td>{_e(name)}'
        + (f" <small>({_e(p['note'])})</small>" if p.get("note") else "")
        + f'</td><td>{_e(p["library"])}</td><td class="verdict {_e(p["verdict"])}">'
        f"{_e(p['verdict'].replace('-', ' '))}</td><td>{_e(', '.join(behind(p)))}</td></tr>"
        for name, p in profiles.items()
    )
    return (
        f'<section id="verdicts"><h2>Clients</h2><table><tr><th>client</th><th>library</th><th>verdict</th>'
        f"<th>because of</th></tr>{rows}</table></section>"
    )


def _ids_unbroken(markup: str) -> str:
    """Wrap every check ID in the text (never in tags or attributes) of ``markup`` in a no-wrap span."""
    return re.sub(
        r">([^<]+)<", lambda m: ">" + ID.sub(lambda i: f'<span class="id">{i.group()}</span>', m.group(1)) + "<", markup
    )


def _marked(text: str, marks: Sequence[str]) -> str:
    """``text`` escaped, with every occurrence of each of ``marks`` highlighted."""
    wanted = sorted({m for m in marks if len(m) >= 2 and m in text}, key=len, reverse=True)
    if not wanted:
        return _e(text)
    pattern = re.compile("|".join(map(re.escape, wanted)))
    out, last = [], 0
    for hit in pattern.finditer(text):
        out += [_e(text[last : hit.start()]), f"<mark>{_e(hit.group())}</mark>"]
        last = hit.end()
    return "".join(out) + _e(text[last:])


def _readable(exchange: str) -> str:
    """An exchange as a person reads it: the request body pretty-printed where it is whole JSON, one line per
    streamed event."""
    lines = []
    for line in exchange.splitlines():
        line = line.strip()
        method, _, rest = line.partition(" {")
        if line.startswith("sent ") and rest:
            try:
                body = json.loads("{" + rest)
            except ValueError:
                lines.append(line)
            else:
                lines.append(method + "\n" + json.dumps(body, indent=2, ensure_ascii=False))
            continue
        lines.append(line.replace(": data: ", ":\ndata: ", 1) if line.startswith("got ") else line)
    return "\n".join(lines)


def _evidence(finding: Mapping[str, Any]) -> str:
    """What was sent and came back: its first line as the summary, the whole of it on demand, the part at fault
    (what the finding found, an error status) highlighted."""
    exchange = str(finding["exchange"])
    marks = [str(finding["found"]).strip('"')] if finding.get("found") else []
    marks += re.findall(r"got\s+([45]\d\d)\b", exchange)
    first = exchange.splitlines()[0].strip().removeprefix("sent ").partition(" {")[0]
    excerpt = first if len(first) <= EXCERPT_CHARS else first[: EXCERPT_CHARS - 1] + "…"
    return (
        f'<details class="evidence"><summary>what was sent and what came back (<code>{_e(excerpt)}</code>)'
        f"</summary><pre>{_marked(_readable(exchange), marks)}</pre></details>"
    )


def _finding_item(entry: Mapping[str, Any], f: Mapping[str, Any]) -> str:
    rows = []
    if f.get("pointer"):
        rows.append(("at", f"<code>{_e(f['pointer'])}</code>"))
    if f.get("expected"):
        rows.append(("expected", _e(f["expected"])))
    if f.get("found"):
        rows.append(("found", f"<code><mark>{_e(f['found'])}</mark></code>"))
    if f.get("fix"):
        rows.append(("fix", f'<span class="fix">{_e(f["fix"])}</span>'))
    rows.append(("clients", _e(clients.says(entry["id"], f.get("key") or entry["id"], f.get("clients", ())))))
    listed = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return (
        f"<li>{_e(f['message'])}"
        + (f"<dl>{listed}</dl>" if listed else "")
        + (f'<p>reproduce:</p><pre class="reproduce">{_e(f["reproduce"])}</pre>' if f.get("reproduce") else "")
        + (_evidence(f) if f.get("exchange") else "")
        + "</li>"
    )


def _finding(entry: Mapping[str, Any]) -> str:
    details = "".join(_finding_item(entry, f) for f in entry.get("findings", [])) or f"<li>{_e(entry['message'])}</li>"
    return (
        f'<div class="finding {_e(entry["severity"])}" data-check="{_e(entry["id"])}">'
        f'<span class="id">{_e(entry["id"])}</span> <span class="{_e(entry["severity"])}">{_e(entry["severity"])}'
        f"</span> {_e(label(entry))} · {_e(entry['title'])} · <code>{_e(entry['subject'])}</code>"
        f"<ul>{details}</ul><small>source: {_e(entry['source'])}</small></div>"
    )


def _findings(results: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for severity in SEVERITY_ORDER:
        group = [r for r in results if r["severity"] == severity and r["outcome"] in ("failed", "warned", "error")]
        if group:
            parts.append(f'<h3 class="{severity}">{severity} ({len(group)})</h3>' + "".join(map(_finding, group)))
    body = "".join(parts) or "<p>No findings: every check that ran passed.</p>"
    return f'<section id="findings"><h2>Findings</h2>{body}</section>'


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low = int(at)
    return ordered[low] + (ordered[min(low + 1, len(ordered) - 1)] - ordered[low]) * (at - low)


def _chart(
    values: Sequence[float], label: str, *, budget: float | None = None, bins: int = 20, unit: str = "ms"
) -> str:
    """A histogram of ``values`` as inline SVG: labelled axes, p50 and p95 marked, and the budget when given."""
    if not values:
        return ""
    width, height, left, bottom, top = 440, 210, 40, 36, 40
    plot_w, plot_h = width - left - 24, height - bottom - top
    p50, p95 = _quantile(values, 0.5), _quantile(values, 0.95)
    low, high = min(values), max([*values, *([budget] if budget else [])])
    span = (high - low) or max(abs(high), 1.0) * 0.1 or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / span * bins), bins - 1)] += 1
    most = max(counts)

    def x(value: float) -> float:
        return left + (value - low) / span * plot_w

    bar = plot_w / bins
    rects = "".join(
        f'<rect x="{left + i * bar:.1f}" y="{top + plot_h - c / most * plot_h:.1f}" width="{max(bar - 1, 1):.1f}" '
        f'height="{c / most * plot_h:.1f}" fill="#0969da"><title>{c} of {len(values)}</title></rect>'
        for i, c in enumerate(counts)
        if c
    )
    ticks = "".join(
        f'<line x1="{x(v):.1f}" y1="{top + plot_h}" x2="{x(v):.1f}" y2="{top + plot_h + 4}" stroke="#57606a"/>'
        f'<text x="{x(v):.1f}" y="{top + plot_h + 16}" font-size="13" text-anchor="middle">{v:.1f}</text>'
        for v in (low, low + span / 2, low + span)
    )
    axes = (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#57606a"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#57606a"/>'
        f'<text x="{left - 4}" y="{top + 4}" font-size="13" text-anchor="end">{most}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="13" text-anchor="end">0</text>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 2}" font-size="13" text-anchor="middle">{_e(unit)}</text>'
        f'<text x="10" y="{top + plot_h / 2:.1f}" font-size="13" text-anchor="middle" '
        f'transform="rotate(-90 10 {top + plot_h / 2:.1f})">count</text>'
    )
    marks = [("p50", p50, "#1b1f24", "4 3"), ("p95", p95, "#9a6700", "")]
    marks += [("budget", budget, "#cf222e", "")] if budget else []
    lines = "".join(
        f'<g class="mark-{name}"><line x1="{x(v):.1f}" y1="{top}" x2="{x(v):.1f}" y2="{top + plot_h}" '
        f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="{dash}"/>'
        f'<text x="{x(v):.1f}" y="{top - 4 - 12 * i}" font-size="13" fill="{colour}" '
        f'text-anchor="{"end" if x(v) > left + plot_w * 0.8 else "middle"}">{name} {v:.1f}</text></g>'
        for i, (name, v, colour, dash) in enumerate(marks)
    )
    caption = f"{_e(label)} (n={len(values)}; p50 {p50:.1f}, p95 {p95:.1f} {_e(unit)}" + (
        f"; budget {budget:g} {_e(unit)})" if budget else ")"
    )
    return (
        f'<figure><svg role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMinYMin meet">{axes}{rects}{ticks}{lines}</svg><figcaption>{caption}'
        f"</figcaption></figure>"
    )


def _latency(metrics: Mapping[str, Any]) -> str:
    budgets = metrics.get("LAT-003", {}).get("budgets", {})
    blocks = []
    for model, figures in metrics.get("LAT-002", {}).items():
        shown = [(key, name) for key, name in LATENCY_FIGURES if key in figures]
        rows = "".join(
            f"<tr><td>{_e(name)}</td>"
            + "".join(
                f'<td class="n">{figures[key][k]:.1f}</td>' if k != "n" else f'<td class="n">{figures[key]["n"]}</td>'
                for k in ("n", "mean", "p50", "p95", "max")
            )
            + "</tr>"
            for key, name in shown
        )
        meanings = figures.get("definitions", {})
        definitions = "".join(
            f"<dt>{_e(name)}</dt><dd>{_e(meanings[key])}</dd>" for key, name in shown if key in meanings
        )
        samples = figures.get("samples", {})
        charts = (
            _chart(samples.get("ttft_ms", []), "TTFT distribution", budget=budgets.get("ttft_ms"))
            + _chart(samples.get("e2e_ms", []), "E2E distribution", budget=budgets.get("e2e_ms"))
            + _chart(samples.get("gap_ms", []), "inter-chunk gaps")
        )
        blocks.append(
            f'<div class="model" data-model="{_e(model)}"><h3>{_e(model)}</h3><div class="scroll"><table><tr>'
            f"<th>figure</th><th>n</th><th>mean</th><th>p50</th><th>p95</th><th>max</th></tr>{rows}</table></div>"
            f'<dl class="definitions">{definitions}</dl><div class="grid">{charts}</div></div>'
        )
    fetch = metrics.get("LAT-001", {})
    if fetch:
        blocks.insert(
            0, "<p>Catalog fetch: " + ", ".join(f"{_e(k)} {v['fetch_ms']:.1f} ms" for k, v in fetch.items()) + "</p>"
        )
    return f'<section id="latency"><h2>Latency</h2>{"".join(blocks)}</section>' if blocks else ""


def render(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page, readable from a phone's width up."""
    target = report["target"]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Provider conformance</title>'
        f"<style>{STYLE}</style></head><body><header><h1>Provider conformance</h1>"
        f'<p class="meta" id="target">{_e(target["kind"])}: <code>{_e(target["where"])}</code></p>'
        f'<p class="meta">provider-conformance {_e(report["tool"]["version"])} · {_e(report["started"])} · '
        f'{_e(report["duration_s"])} s · <span id="counts">{_e(counts(report))}</span></p></header>'
        f"{_ids_unbroken(_verdicts(report['profiles']))}{_findings(report['results'])}"
        f"{_latency(report['metrics'])}</body></html>\n"
    )

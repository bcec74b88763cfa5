"""The HTML report: one self-contained page (no network, no CDN) a provider's engineer can share.

It renders the same JSON report as the terminal and Markdown: the verdict per client at the top, the findings by
severity with their fixes, and the latency figures with small inline SVG charts of their distributions.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from conformance import clients
from conformance.report import SEVERITY_ORDER, behind

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24}
h1{margin:0 0 .2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#57606a}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa}.verdict{font-weight:600}
.works{color:#1a7f37}.works-with-warnings{color:#9a6700}.degraded{color:#bc4c00}.breaks{color:#cf222e}
.not-applicable{color:#57606a}.MUST{color:#cf222e}.SHOULD{color:#9a6700}.INFO{color:#0969da}
.finding{margin:.6rem 0;padding:.5rem .8rem;border-left:4px solid #d0d7de;background:#f6f8fa}
.finding.MUST{border-color:#cf222e}.finding.SHOULD{border-color:#bf8700}.finding.INFO{border-color:#0969da}
.fix{color:#1a7f37}code{font-size:90%}svg{background:#fff;border:1px solid #eaeef2}
pre{white-space:pre-wrap;word-break:break-all;font-size:85%}
"""


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


def _finding(entry: Mapping[str, Any]) -> str:
    details = (
        "".join(
            f"<li>{_e(f['message'])}"
            + (f" <code>{_e(f['pointer'])}</code>" if f.get("pointer") else "")
            + (f"<br>expected: {_e(f['expected'])}" if f.get("expected") else "")
            + (f"<br>found: <code>{_e(f['found'])}</code>" if f.get("found") else "")
            + (f'<br><span class="fix">fix: {_e(f["fix"])}</span>' if f.get("fix") else "")
            + f"<br>clients: {_e(clients.says(entry['id'], f.get('key') or entry['id'], f.get('clients', ())))}"
            + (f"<pre>{_e(f['exchange'])}</pre>" if f.get("exchange") else "")
            + "</li>"
            for f in entry.get("findings", [])
        )
        or f"<li>{_e(entry['message'])}</li>"
    )
    return (
        f'<div class="finding {_e(entry["severity"])}" data-check="{_e(entry["id"])}">'
        f'<b>{_e(entry["id"])}</b> <span class="{_e(entry["severity"])}">{_e(entry["severity"])}</span> '
        f"{_e(entry['title'])} — <code>{_e(entry['subject'])}</code> ({_e(entry['outcome'])})"
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


def _chart(values: Sequence[float], label: str, *, width: int = 420, height: int = 120, bins: int = 24) -> str:
    """A histogram of ``values`` as inline SVG."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / span * bins), bins - 1)] += 1
    top, bar = max(counts), width / bins
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - 20 - c / top * (height - 30):.1f}" width="{bar - 1:.1f}" '
        f'height="{c / top * (height - 30):.1f}" fill="#0969da"><title>{c}</title></rect>'
        for i, c in enumerate(counts)
        if c
    )
    axis = (
        f'<text x="0" y="{height - 4}" font-size="11">{low:.1f} ms</text>'
        f'<text x="{width}" y="{height - 4}" font-size="11" text-anchor="end">{high:.1f} ms</text>'
    )
    return (
        f'<figure><svg role="img" aria-label="{_e(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{rects}{axis}</svg><figcaption>{_e(label)} '
        f"(n={len(values)})</figcaption></figure>"
    )


def _latency(metrics: Mapping[str, Any]) -> str:
    blocks = []
    for model, figures in metrics.get("LAT-002", {}).items():
        rows = "".join(
            f"<tr><td>{_e(name)}</td>"
            + "".join(
                f"<td>{figures[name].get(k, ''):.1f}</td>" if k != "n" else f"<td>{figures[name]['n']}</td>"
                for k in ("n", "mean", "p50", "p95", "max")
            )
            + f"<td>{_e(figures.get('definitions', {}).get(name, ''))}</td></tr>"
            for name in ("ttft_ms", "ttfc_ms", "e2e_ms", "itl_ms", "tokens_per_s", "gap_ms")
            if name in figures
        )
        samples = figures.get("samples", {})
        charts = _chart(samples.get("ttft_ms", []), "TTFT distribution") + _chart(
            samples.get("gap_ms", []), "inter-chunk gaps"
        )
        blocks.append(
            f'<div class="model" data-model="{_e(model)}"><h3>{_e(model)}</h3><table><tr><th>figure</th>'
            f"<th>n</th><th>mean</th><th>p50</th><th>p95</th><th>max</th><th>definition</th></tr>{rows}"
            f"</table>{charts}</div>"
        )
    fetch = metrics.get("LAT-001", {})
    if fetch:
        blocks.insert(
            0, "<p>Catalog fetch: " + ", ".join(f"{_e(k)} {v['fetch_ms']:.1f} ms" for k, v in fetch.items()) + "</p>"
        )
    return f'<section id="latency"><h2>Latency</h2>{"".join(blocks)}</section>' if blocks else ""


def render(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    counts: dict[str, int] = {}
    for entry in report["results"]:
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    target = report["target"]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Provider conformance</title>'
        f"<style>{STYLE}</style></head><body><header><h1>Provider conformance</h1>"
        f'<p class="meta" id="target">{_e(target["kind"])}: <code>{_e(target["where"])}</code></p>'
        f'<p class="meta">provider-conformance {_e(report["tool"]["version"])} · {_e(report["started"])} · '
        f'{_e(report["duration_s"])} s · <span id="counts">{_e(summary)}</span></p></header>'
        f"{_verdicts(report['profiles'])}{_findings(report['results'])}{_latency(report['metrics'])}</body></html>\n"
    )

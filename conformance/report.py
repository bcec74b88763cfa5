"""Renderings of one run's results: the terminal finding and summary, the JSON report, the Markdown report.

Every rendering reads the same report entries (``entry``), so the terminal, the JSON file and the Markdown
summary cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance import __version__, profiles, schemas
from conformance.catalogue import Check
from conformance.findings import Finding, Outcome, Result, show

SEVERITY_ORDER = ("MUST", "SHOULD", "INFO")


def _finding_line(finding: Finding) -> str:
    where = f" (at {finding.pointer})" if finding.pointer else ""
    return finding.message + where


def entry(check: Check, result: Result) -> dict[str, Any]:
    """One result as the JSON report holds it."""
    if result.findings:
        message = "; ".join(_finding_line(f) for f in result.findings)
    else:
        message = result.note or result.outcome.value
    out: dict[str, Any] = {
        "id": check.id,
        "severity": check.severity.value,
        "subject": result.subject,
        "outcome": result.outcome.value,
        "title": check.title,
        "message": message,
        "source": check.source,
    }
    if result.findings:
        out["findings"] = [f.to_json() for f in result.findings]
    return out


def render_item(check: Check, result: Result, *, input_label: str) -> str:
    """The text a failing or warning item prints: a finding a provider can act on, not a traceback."""
    lines = [f"{check.id} [{check.severity.value}] {check.title}", f"subject: {result.subject}    input: {input_label}"]
    for finding in result.findings:
        lines.append(f"  - {finding.message}")
        if finding.pointer:
            lines.append(f"      at:       {finding.pointer}")
        if finding.exchange:
            lines.append(f"      {finding.exchange}")
        if finding.expected:
            lines.append(f"      expected: {finding.expected}")
        if finding.has_found:
            lines.append(f"      found:    {show(finding.found)}")
        if finding.fix:
            lines.append(f"      fix:      {finding.fix}")
        if finding.reproduce:
            lines.append(f"      reproduce: {finding.reproduce}")
    if result.outcome is Outcome.ERROR:
        lines.append(f"  - {result.note}")
    lines.append(f"why: {check.rationale}")
    lines.append(f"source: {check.source}")
    return "\n".join(lines)


def build(
    entries: list[dict[str, Any]],
    *,
    target_kind: str,
    target_where: str,
    started: str,
    duration_s: float,
    planned: Iterable[str],
    metrics: Mapping[str, Any] | None = None,
    clients: Iterable[str] = (),
) -> dict[str, Any]:
    """The JSON report of ``interface.md``; it validates against ``schemas/report.schema.json``."""
    outcomes: dict[str, list[str]] = {}
    for e in entries:
        outcomes.setdefault(e["id"], []).append(e["outcome"])
    return {
        "tool": {"name": "provider-conformance", "version": __version__},
        "target": {"kind": target_kind, "where": target_where},
        "started": started,
        "duration_s": round(duration_s, 3),
        "results": entries,
        "profiles": {
            name: v.to_json() for name, v in profiles.verdicts(outcomes, planned, profiles.narrowed(clients)).items()
        },
        "metrics": dict(metrics or {}),
    }


def schema_errors(report: Mapping[str, Any]) -> list[str]:
    """Why ``report`` does not match the published report schema (empty when it does)."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in schemas.validator("report").iter_errors(report)
    ]


def _findings_by_severity(report: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {s: [] for s in SEVERITY_ORDER}
    for e in report["results"]:
        if e["outcome"] in ("failed", "warned", "error"):
            grouped[e["severity"]].append(e)
    return grouped


def _counts(report: Mapping[str, Any]) -> str:
    counts: dict[str, int] = {}
    for e in report["results"]:
        counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no results"


def _profile_line(name: str, p: Mapping[str, Any]) -> str:
    verdict = p["verdict"].replace("-", " ")
    if p["failed"]:
        verdict += f" ({', '.join(p['failed'])})"
    elif p["warned"]:
        verdict += f" ({', '.join(p['warned'])})"
    if p.get("not_run") and p["verdict"].startswith("compatible"):
        verdict += f"; not run: {', '.join(p['not_run'])}"
    return f"{name}: {verdict}"


def summary(report: Mapping[str, Any]) -> list[str]:
    """The terminal summary: findings grouped by severity, then the client-profile matrix."""
    lines = [f"target: {report['target']['kind']} {report['target']['where']}  ({_counts(report)})"]
    for severity, group in _findings_by_severity(report).items():
        if not group:
            continue
        label = {"MUST": "MUST failures", "SHOULD": "SHOULD warnings", "INFO": "INFO observations"}[severity]
        lines.append(f"{label} ({len(group)}):")
        lines.extend(f"  {e['id']}[{e['subject']}] {e['outcome'].upper()}: {e['message']}" for e in group)
    lines.extend(_latency_lines(report["metrics"]))
    lines.append("client profiles:")
    lines.extend(f"  {_profile_line(name, p)}" for name, p in report["profiles"].items())
    return lines


def _latency_lines(metrics: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, fetch in metrics.get("LAT-001", {}).items():
        lines.append(f"  {name} fetch: {fetch['fetch_ms']:.1f} ms")
    for model, figures in metrics.get("LAT-002", {}).items():
        parts = []
        for key, label in (("ttft_ms", "TTFT"), ("ttfc_ms", "TTFC"), ("e2e_ms", "E2E"), ("itl_ms", "ITL")):
            if key in figures:
                parts.append(f"{label} p50 {figures[key]['p50']:.1f} / p95 {figures[key]['p95']:.1f} ms")
        if "tokens_per_s" in figures:
            parts.append(f"{figures['tokens_per_s']['p50']:.0f} tokens/s")
        requests = figures["requests"]
        lines.append(
            f"  {model}: {', '.join(parts) or 'no figures'} (n={requests['measured']}, "
            f"{requests['failed']} failed, {requests['warmup_excluded']} warm-up excluded"
            f"{', estimated' if 'estimated' in figures else ''})"
        )
    if lines:
        lines.insert(
            0,
            "latency (TTFT: to the first content, reasoning or tool-call token; TTFC: to the first "
            "content; E2E: to the last token; ITL: between tokens):",
        )
    return lines


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Mapping[str, Any]) -> str:
    """The same report as Markdown, for a CI step summary or a pull request."""
    out = [
        "# Provider conformance",
        "",
        f"Target: `{report['target']['where']}` ({report['target']['kind']}) · provider-conformance "
        f"{report['tool']['version']} · {report['started']} · {report['duration_s']} s · {_counts(report)}",
        "",
        "## Client profiles",
        "",
        "| profile | verdict | failed | warned | not run |",
        "|---|---|---|---|---|",
    ]
    for name, p in report["profiles"].items():
        out.append(
            f"| {name} | {p['verdict']} | {', '.join(p['failed'])} | {', '.join(p['warned'])} | "
            f"{', '.join(p.get('not_run', []))} |"
        )
    for severity, group in _findings_by_severity(report).items():
        if not group:
            continue
        out += [
            "",
            f"## {severity} findings ({len(group)})",
            "",
            "| check | subject | outcome | finding |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {e['id']} {_md_cell(e['title'])} | `{_md_cell(e['subject'])}` | {e['outcome']} | "
            f"{_md_cell(e['message'])} |"
            for e in group
        ]
    return "\n".join(out) + "\n"


BADGE_COLOURS = {
    "compatible": "brightgreen",
    "compatible-with-warnings": "yellow",
    "incompatible": "red",
    "not-applicable": "lightgrey",
}
PROFILE_LABELS = {
    "kilo-provider-defined": "Kilo Provider Defined",
    "openai-compatible": "OpenAI Compatible",
    "kimi-cli": "Kimi Code CLI",
    "codex": "Codex",
}


def badge(report: Mapping[str, Any]) -> dict[str, Any]:
    """shields.io endpoint JSON: one profile's verdict when the run was narrowed to one, else all of them."""
    verdicts = {name: p["verdict"] for name, p in report["profiles"].items()}
    if len(verdicts) == 1:
        ((name, verdict),) = verdicts.items()
        return {
            "schemaVersion": 1,
            "label": PROFILE_LABELS.get(name, name),
            "message": verdict.replace("-", " "),
            "color": BADGE_COLOURS[verdict],
        }
    applicable = {n: v for n, v in verdicts.items() if v != "not-applicable"}
    working = [n for n, v in applicable.items() if v.startswith("compatible")]
    worst = (
        "incompatible"
        if len(working) < len(applicable)
        else "compatible-with-warnings"
        if any(v != "compatible" for v in applicable.values())
        else "compatible"
    )
    message = f"{len(working)} of {len(applicable)} clients compatible" if applicable else "no client checked"
    return {
        "schemaVersion": 1,
        "label": "provider conformance",
        "message": message,
        "color": BADGE_COLOURS[worst if applicable else "not-applicable"],
    }

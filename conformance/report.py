"""Renderings of one run's results: the terminal finding and summary, the JSON report, the Markdown report.

Every rendering reads the same report entries (``entry``), so the terminal, the JSON file and the Markdown
summary cannot disagree.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from conformance import __version__, clients, schemas
from conformance.catalogue import Check
from conformance.findings import Finding, Outcome, Result, show

SEVERITY_ORDER = ("MUST", "SHOULD", "INFO")


def _finding_line(finding: Finding) -> str:
    where = f" (at {finding.pointer})" if finding.pointer else ""
    return finding.message + where


def entry(check: Check, result: Result) -> dict[str, Any]:
    """One result as the JSON report holds it. (An enum's ``_value_`` is its ``value`` without the descriptor,
    read here for each of a large catalog's hundreds of thousands of entries.)"""
    outcome = result.outcome._value_
    out: dict[str, Any] = {
        "id": check.id,
        "severity": check.severity._value_,
        "subject": result.subject,
        "outcome": outcome,
        "title": check.title,
        "message": "; ".join(map(_finding_line, result.findings)) if result.findings else result.note or outcome,
        "source": check.source,
    }
    if result.findings:
        out["findings"] = [_finding_json(check.id, f) for f in result.findings]
    return out


def _finding_json(check_id: str, finding: Finding) -> dict[str, Any]:
    """A finding with its deviation key and the profiled clients it breaks or degrades."""
    key = f"{check_id}:{finding.deviation}" if finding.deviation else check_id
    touched = clients.effects(check_id, key, finding.clients)
    return {**finding.to_json(), "key": key, **touched}


def render_item(check: Check, result: Result, *, input_label: str) -> str:
    """The text a failing or warning item prints: a finding a provider can act on, not a traceback."""
    lines = [f"{check.id} [{check.severity.value}] {check.title}", f"subject: {result.subject}    input: {input_label}"]
    for finding in result.findings:
        key = f"{check.id}:{finding.deviation}" if finding.deviation else check.id
        lines.append(f"  - {finding.message}")
        lines.append(f"      clients:  {clients.says(check.id, key, finding.clients)}")
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
    metrics: Mapping[str, Any] | None = None,
    chosen: Iterable[str] = (),
) -> dict[str, Any]:
    """The JSON report of ``interface.md``; it validates against ``schemas/report.schema.json``."""
    return {
        "tool": {"name": "provider-conformance", "version": __version__},
        "target": {"kind": target_kind, "where": target_where},
        "started": started,
        "duration_s": round(duration_s, 3),
        "results": entries,
        "profiles": clients.verdicts(entries, chosen),
        "metrics": dict(metrics or {}),
    }


_BETWEEN_ENTRIES = (b'},{"id":', b'},\n    {"id":')
"""Where one result entry ends and the next begins in the compact encoding of the list (``entry`` puts ``id``
first), and the same with the next on its own line. Outside a string only two entries meet like this (inside
one, its quotes are escaped; no object within an entry begins with ``id``)."""


def _results_lines(entries: list[dict[str, Any]], chunk: int = 1000) -> Iterator[bytes]:
    """The result entries as UTF-8, one per line: each ``chunk`` of them encoded at once by orjson and cut between
    entries (a catalog of 20,000 models has 200,000 entries: 0.1 s, where the standard encoder takes 0.7 s)."""
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        try:
            text = orjson.dumps(part).replace(*_BETWEEN_ENTRIES)[1:-1]
        except orjson.JSONEncodeError:  # a value orjson does not write (a lone surrogate): the standard encoder
            text = b""
        if text.count(b"\n") != len(part) - 1:
            text = ",\n    ".join(map(json.dumps, part)).encode()
        yield (b",\n    " if start else b"    ") + text


def json_lines(report: Mapping[str, Any]) -> Iterator[bytes]:
    """The JSON report as UTF-8, a piece at a time, indented, each result entry on one line: readable, and quick
    to write for a catalog of 20,000 models (``indent`` would take the pure-Python encoder, seconds)."""
    for n, (key, value) in enumerate(report.items()):
        yield (("{\n" if n == 0 else ",\n") + f"  {json.dumps(key)}: ").encode()
        if key == "results" and value:
            yield b"[\n"
            yield from _results_lines(value)
            yield b"\n  ]"
        else:
            yield (
                json.dumps(value, indent=2, ensure_ascii=False)
                .replace("\n", "\n  ")
                .encode("utf-8", "backslashreplace")
            )
    yield b"\n}\n"


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


def label(entry: Mapping[str, Any]) -> str:
    """An entry's outcome as people read it: an INFO finding is a note, not a warning."""
    if entry["outcome"] == "warned" and entry["severity"] == "INFO":
        return "noted"
    return str(entry["outcome"])


def counts(report: Mapping[str, Any]) -> str:
    """The outcomes in pytest's words (a warned or noted item passed; an error failed), so that this line and
    pytest's own last line agree, followed by what the passing items found."""
    tally: dict[str, int] = {}
    for (outcome, severity), n in Counter((e["outcome"], e["severity"]) for e in report["results"]).items():
        said = label({"outcome": outcome, "severity": severity})
        tally[said] = tally.get(said, 0) + n
    failed, errors = tally.get("failed", 0), tally.get("error", 0)
    warned, noted = tally.get("warned", 0), tally.get("noted", 0)
    parts = [
        f"{failed + errors} failed" if failed + errors else "",
        f"{tally.get('passed', 0) + warned + noted} passed" if tally.get("passed", 0) + warned + noted else "",
        f"{tally['skipped']} skipped" if tally.get("skipped") else "",
    ]
    text = ", ".join(p for p in parts if p) or "no results"
    found = [f"{warned} with SHOULD warnings" if warned else "", f"{noted} with INFO notes" if noted else ""]
    found += [f"{errors} the suite could not run" if errors else ""]
    detail = ", ".join(f for f in found if f)
    return f"{text} ({detail})" if detail else text


def behind(p: Mapping[str, Any]) -> list[str]:
    """The deviation keys a verdict stands on (what broke or degraded it, or what it tolerates)."""
    if p["verdict"] == "breaks":
        return list(p["breaks"])
    if p["verdict"] == "degraded":
        return list(p["degraded"])
    return [*p["tolerated"], *(f"{k} unverified" for k in p["unverified"])]


def client_label(name: str, p: Mapping[str, Any]) -> str:
    """The profile name, with the note that marks an unreleased one."""
    return f"{name} ({p['note']})" if p.get("note") else name


def _profile_line(name: str, p: Mapping[str, Any]) -> str:
    keys = behind(p)
    because = f" ({', '.join(keys)})" if keys else ""
    return f"{client_label(name, p)}: {p['verdict'].replace('-', ' ')}{because}  [{p['library']}]"


def _clients_said(entry: Mapping[str, Any]) -> str:
    """What an entry's findings do to the profiled clients, for its summary line (an INFO note is an
    observation, not a deviation: it says nothing of clients)."""
    if entry["severity"] == "INFO":
        return ""
    said = dict.fromkeys(
        clients.says(entry["id"], f.get("key") or entry["id"], f.get("clients", ())) for f in entry.get("findings", ())
    )
    return f" [{'; '.join(said)}]" if said else ""


def summary(report: Mapping[str, Any]) -> list[str]:
    """The terminal summary: findings grouped by severity, then the client-profile matrix."""
    lines = [f"target: {report['target']['kind']} {report['target']['where']}: {counts(report)}"]
    for severity, group in _findings_by_severity(report).items():
        if not group:
            continue
        heading = {"MUST": "MUST failures", "SHOULD": "SHOULD warnings", "INFO": "INFO notes"}[severity]
        lines.append(f"{heading} ({len(group)}):")
        lines.extend(f"  {e['id']}[{e['subject']}] {label(e).upper()}: {e['message']}{_clients_said(e)}" for e in group)
    lines.extend(_latency_lines(report["metrics"]))
    lines.append("client verdicts:")
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


def _md_fence(text: str, language: str = "text") -> list[str]:
    fence = "````" if "```" in text else "```"
    return [f"{fence}{language}", text, fence]


def _md_findings(severity: str, group: list[dict[str, Any]]) -> list[str]:
    """A severity's findings: a table of what is wrong and how to fix it, then the evidence, collapsed."""
    out = [
        "",
        f"## {severity} findings ({len(group)})",
        "",
        "| check | subject | outcome | finding | fix | clients |",
        "|---|---|---|---|---|---|",
    ]
    evidence: list[str] = []
    for e in group:
        findings = e.get("findings") or [{"message": e["message"]}]
        for n, f in enumerate(findings):
            where = f" (at `{_md_cell(f['pointer'])}`)" if f.get("pointer") else ""
            said = _md_cell(f["message"]) + where
            if f.get("expected"):
                said += f"; expected {_md_cell(f['expected'])}"
            if f.get("found"):
                said += f"; found `{_md_cell(f['found'])}`"
            check = f"{e['id']} {_md_cell(e['title'])}" if n == 0 else "″"
            effect = clients.says(e["id"], f.get("key") or e["id"], f.get("clients", ()))
            out.append(
                f"| {check} | `{_md_cell(e['subject'])}` | {label(e)} | {said} | {_md_cell(f.get('fix') or '')} | "
                f"{_md_cell(effect)} |"
            )
            shown = [*(_md_fence(f["reproduce"], "sh") if f.get("reproduce") else [])]
            shown += _md_fence(f["exchange"]) if f.get("exchange") else []
            if shown:
                evidence += [
                    "",
                    f"<details><summary>{e['id']} <code>{html.escape(e['subject'])}</code>: "
                    f"{'reproduce, and ' if f.get('reproduce') else ''}what was sent and what came back</summary>",
                    "",
                    *shown,
                    "",
                    "</details>",
                ]
    return out + evidence


LATENCY_FIGURES = (
    ("ttft_ms", "TTFT (ms)"),
    ("ttfc_ms", "TTFC (ms)"),
    ("e2e_ms", "E2E (ms)"),
    ("itl_ms", "ITL (ms)"),
    ("tokens_per_s", "tokens/s"),
    ("gap_ms", "inter-chunk gap (ms)"),
)


def _md_latency(metrics: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    fetch = metrics.get("LAT-001", {})
    if fetch:
        out += ["", "Catalog fetch: " + ", ".join(f"{name} {f['fetch_ms']:.1f} ms" for name, f in fetch.items())]
    for model, figures in metrics.get("LAT-002", {}).items():
        requests = figures.get("requests", {})
        out += [
            "",
            f"### `{model}`",
            "",
            f"{requests.get('measured', 0)} requests measured, {requests.get('failed', 0)} failed, "
            f"{requests.get('warmup_excluded', 0)} warm-up excluded"
            + (" (ITL estimated: no usage chunk)" if "estimated" in figures else ""),
            "",
            "| figure | n | mean | min | p50 | p95 | max | definition |",
            "|---|---|---|---|---|---|---|---|",
        ]
        definitions = figures.get("definitions", {})
        for key, name in LATENCY_FIGURES:
            if key in figures:
                f = figures[key]
                numbers = " | ".join(f"{f[k]:.1f}" if k in f else "" for k in ("mean", "min", "p50", "p95", "max"))
                out.append(f"| {name} | {f.get('n', '')} | {numbers} | {_md_cell(str(definitions.get(key, '')))} |")
    return ["", "## Latency", *out] if out else []


def markdown(report: Mapping[str, Any]) -> str:
    """The same report as Markdown, for a CI step summary or a pull request: verdicts, findings with their fixes
    and evidence, latency."""
    out = [
        "# Provider conformance",
        "",
        f"Target: `{report['target']['where']}` ({report['target']['kind']}) · provider-conformance "
        f"{report['tool']['version']} · {report['started']} · {report['duration_s']} s · {counts(report)}",
        "",
        "## Client verdicts",
        "",
        "| client | library | verdict | because of |",
        "|---|---|---|---|",
    ]
    for name, p in report["profiles"].items():
        out.append(
            f"| {_md_cell(client_label(name, p))} | {_md_cell(p['library'])} | {p['verdict']} | "
            f"{_md_cell(', '.join(behind(p)))} |"
        )
    for severity, group in _findings_by_severity(report).items():
        if group:
            out += _md_findings(severity, group)
    out += _md_latency(report["metrics"])
    return "\n".join(out) + "\n"


BADGE_COLOURS = {
    "works": "brightgreen",
    "works-with-warnings": "yellow",
    "degraded": "orange",
    "breaks": "red",
    "not-applicable": "lightgrey",
}
PROFILE_LABELS = {
    "kilo-code": "Kilo Code",
    "roo-code": "Roo Code",
    "cline": "Cline",
    "kimi-cli": "Kimi Code CLI",
    "codex": "Codex",
    "claude-code": "Claude Code",
    "kilo-provider-defined": "Kilo Provider Defined (unreleased)",
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
    working = [n for n, v in applicable.items() if v.startswith("works")]
    order = ("breaks", "degraded", "works-with-warnings", "works")
    worst = next((v for v in order if v in applicable.values()), "not-applicable")
    message = f"{len(working)} of {len(applicable)} clients work" if applicable else "no client checked"
    return {"schemaVersion": 1, "label": "provider conformance", "message": message, "color": BADGE_COLOURS[worst]}

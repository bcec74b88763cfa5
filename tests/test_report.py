"""The Markdown report and the terminal summary: the same results, in the words pytest uses, with fixes,
reproduce lines, evidence and latency."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conformance import report
from conformance.resources import data_dir

pytest_plugins = ["pytester"]
BROKEN = data_dir("examples") / "acme-broken-embedded.json"


def entry(check_id: str, severity: str, outcome: str, **finding: Any) -> dict[str, Any]:
    out = {
        "id": check_id,
        "severity": severity,
        "subject": "acme/coder",
        "outcome": outcome,
        "title": f"the {check_id} rule",
        "message": finding.get("message", outcome),
        "source": "checks.md",
    }
    if finding:
        out["findings"] = [finding]
    return out


LATENCY = {
    "ttft_ms": {"n": 5, "mean": 210.0, "min": 200.0, "p50": 205.0, "p95": 240.0, "max": 250.0},
    "e2e_ms": {"n": 5, "mean": 900.0, "min": 850.0, "p50": 890.0, "p95": 990.0, "max": 1000.0},
    "requests": {"measured": 5, "failed": 1, "warmup_excluded": 1, "statuses": {"200": 6}},
    "definitions": {"ttft_ms": "to the first token", "e2e_ms": "to the last token"},
}
REPORT: dict[str, Any] = {
    "tool": {"name": "provider-conformance", "version": "0"},
    "target": {"kind": "base-url", "where": "https://api.example/v1"},
    "started": "2026-01-01T00:00:00+00:00",
    "duration_s": 1.0,
    "results": [
        entry(
            "CS-004",
            "MUST",
            "failed",
            message="the stream has no data: [DONE]",
            fix="end every stream with data: [DONE]",
            reproduce="curl -N https://api.example/v1/chat/completions -H 'Authorization: Bearer $PROVIDER_API_KEY'",
            exchange="sent POST https://api.example/v1/chat/completions {}\n  got  200 text/event-stream: data: x",
        ),
        entry("CS-007", "SHOULD", "warned", message="no error event", fix="send an error event"),
        entry("EXT-009", "INFO", "warned", message="shown with a default context window"),
        entry("CS-001", "MUST", "passed"),
        entry("CS-002", "MUST", "skipped"),
        entry("CS-003", "MUST", "error", message="the suite could not run this check"),
    ],
    "profiles": {},
    "metrics": {"LAT-001": {"manifest": {"fetch_ms": 12.5}}, "LAT-002": {"acme/coder": LATENCY}},
}


def test_counts_use_pytests_words_and_say_what_the_passing_items_found() -> None:
    assert report.counts(REPORT) == (
        "2 failed, 3 passed, 1 skipped (1 with SHOULD warnings, 1 with INFO notes, 1 the suite could not run)"
    )


def test_an_info_finding_is_a_note_not_a_warning() -> None:
    lines = report.summary(REPORT)
    assert "INFO notes (1):" in lines
    assert "  EXT-009[acme/coder] NOTED: shown with a default context window" in lines
    assert not any("EXT-009" in line and "WARNED" in line for line in lines)


def test_markdown_has_fixes_reproduce_lines_evidence_and_latency() -> None:
    text = report.markdown(REPORT)
    assert "| check | subject | outcome | finding | fix |" in text
    assert "| the stream has no data: [DONE] | end every stream with data: [DONE] |" in text
    assert "| EXT-009 the EXT-009 rule | `acme/coder` | noted |" in text
    assert "```sh\ncurl -N https://api.example/v1/chat/completions" in text
    assert "<summary>CS-004 <code>acme/coder</code>: reproduce, and what was sent and what came back</summary>" in text
    assert "```text\nsent POST https://api.example/v1/chat/completions {}" in text
    assert "## Latency" in text and "Catalog fetch: manifest 12.5 ms" in text
    assert "5 requests measured, 1 failed, 1 warm-up excluded" in text
    assert "| TTFT (ms) | 5 | 210.0 | 200.0 | 205.0 | 240.0 | 250.0 | to the first token |" in text


def test_the_summary_line_agrees_with_pytests_own(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--offline", f"--provider-json={BROKEN}", "-p", "no:cacheprovider")
    ours = next(line for line in result.outlines if line.startswith("target: "))
    theirs = result.outlines[-1]
    for word in ("failed", "passed", "skipped"):
        mine = re.search(rf"(\d+) {word}", ours)
        pytests = re.search(rf"(\d+) {word}", theirs)
        assert (mine and mine.group(1)) == (pytests and pytests.group(1)), (word, ours, theirs)
    warnings = re.search(r"(\d+) warnings?", theirs)
    assert warnings and f"({warnings.group(1)} with SHOULD warnings)" in ours


def test_the_html_report_renders_reproduce_lines_and_notes() -> None:
    from conformance import html_report

    page = html_report.render(REPORT)
    assert '<pre class="reproduce">curl -N https://api.example/v1/chat/completions' in page
    assert 'data-check="EXT-009"' in page and "noted" in page


def test_an_info_finding_is_no_pytest_warning(pytester: pytest.Pytester) -> None:
    """The docs-like sparse model draws INFO notes (EXT-009) and SHOULD warnings: pytest counts only the latter."""
    sparse = {"models": {"acme/sparse": {"id": "acme/sparse"}}}
    manifest = {
        "name": "Acme AI",
        "website": "https://acme.example",
        "baseUrl": "https://api.acme.example/v1",
        "models_data_source": "embedded",
    }
    (pytester.path / "sparse.json").write_text(json.dumps([manifest, sparse]))
    result = pytester.runpytest("--offline", "--provider-json=sparse.json", "-p", "no:cacheprovider")
    ours = next(line for line in result.outlines if line.startswith("target: "))
    assert "with INFO notes" in ours
    should = int(re.search(r"(\d+) with SHOULD warnings", ours).group(1))
    result.assert_outcomes(
        passed=result.parseoutcomes()["passed"], skipped=result.parseoutcomes().get("skipped", 0), warnings=should
    )

"""The HTML report and the badge, rendered from a real run; the page is checked in a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.reference.server import REFERENCE_KEY
from tests.conftest import run

pytest_plugins = ["pytester"]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no headless Chromium on this machine (.ci/run installs Debian's chromium where it can)")
    return found


def rendered_dom(page: Path, profile_dir: Path) -> str:
    """The DOM after Chromium has loaded and rendered the page (no network: the page must stand alone)."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_the_html_report_of_a_real_run_renders_what_a_reader_needs(pytester: pytest.Pytester) -> None:
    run(
        pytester,
        "--reference-provider=missing-done,empty-data-event",
        "--conformance-html=report.html",
        "--latency-samples=8",
    )
    page = pytester.path / "report.html"
    text = page.read_text()
    assert not re.search(r"(src|href)=\"https?://", text), "the page must not load anything from the network"
    assert REFERENCE_KEY not in text
    dom = rendered_dom(page, pytester.path / "chromium-profile")
    assert re.search(r'data-profile="roo-code">.*?openai 6.49.0.*?breaks.*?CS-009', dom, re.S)
    assert re.search(r'data-profile="kilo-provider-defined">.*?unreleased PR loader', dom, re.S)
    assert "clients: breaks kilo-code, roo-code, cline, kimi-cli" in dom
    assert "clients: spec deviation; no profiled client is known to break" in dom
    assert 'data-check="CS-004"' in dom and "fix: end every stream with data: [DONE]" in dom
    assert 'data-model="reference/coder"' in dom
    assert 'aria-label="TTFT distribution"' in dom and 'aria-label="inter-chunk gaps"' in dom
    assert "<rect" in dom
    assert "the reference provider with faults: missing-done,empty-data-event" in dom


def test_a_clean_run_says_so(pytester: pytest.Pytester) -> None:
    run(pytester, "--reference-provider", "--conformance-html=report.html", "-m", "catalog")
    text = (pytester.path / "report.html").read_text()
    assert "No findings: every check that ran passed." in text


@pytest.mark.parametrize(
    ("args", "badge"),
    [
        (
            ["--reference-provider", "--client=roo-code"],
            {"label": "Roo Code", "message": "works", "color": "brightgreen"},
        ),
        (
            ["--reference-provider=missing-done", "--client=roo-code"],
            {"label": "Roo Code", "message": "works with warnings", "color": "yellow"},
        ),
        (
            ["--reference-provider=no-usage", "--client=kimi-cli"],
            {"label": "Kimi Code CLI", "message": "degraded", "color": "orange"},
        ),
        (
            ["--reference-provider=reject-temperature", "--client=roo-code"],
            {"label": "Roo Code", "message": "breaks", "color": "red"},
        ),
        (
            ["--reference-provider"],
            {"label": "provider conformance", "message": "5 of 5 clients work", "color": "brightgreen"},
        ),
        (
            ["--reference-provider=chunk-without-choices"],
            {"label": "provider conformance", "message": "4 of 5 clients work", "color": "red"},
        ),
    ],
)
def test_the_badge_is_shields_endpoint_json(pytester: pytest.Pytester, args: list[str], badge: dict[str, str]) -> None:
    run(pytester, *args, "--conformance-badge=badge.json")
    assert json.loads((pytester.path / "badge.json").read_text()) == {"schemaVersion": 1, **badge}

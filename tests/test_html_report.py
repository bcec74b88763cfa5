"""The HTML report and the badge, rendered from a real run; the page is checked in a real headless browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
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


def rendered_dom(page: Path, profile_dir: Path, width: int = 1200) -> str:
    """The DOM after Chromium has loaded and rendered the page at ``width`` CSS pixels (no network: the page must
    stand alone)."""
    done = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile_dir}",
            f"--window-size={width},900",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


MEASURE = """<script>
(() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (e) => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
  const inScroller = (e) => { for (let p = e.parentElement; p; p = p.parentElement) if (scrolls(p)) return true; };
  const name = (e) => e.tagName.toLowerCase() + (typeof e.className === "string" ? "." + e.className : "");
  const layout = {
    width,
    page: document.documentElement.scrollWidth,
    cutOff: [...document.body.querySelectorAll("*")]
      .filter((e) => !inScroller(e) && e.getBoundingClientRect().right > width + 1).map(name),
    scrolling: [...document.body.querySelectorAll("*")]
      .filter((e) => scrolls(e) && e.scrollWidth > e.clientWidth + 1).map(name),
    brokenIds: [...document.querySelectorAll(".id")]
      .filter((e) => e.getClientRects().length > 1).map((e) => e.textContent),
    ids: document.querySelectorAll(".id").length,
  };
  parent.document.body.setAttribute("data-layout", JSON.stringify(layout));
})();
</script>"""
"""Measures, in the browser, what a reader at this width would see: anything past the right edge (outside a
scrolling box), boxes that must scroll sideways, check IDs broken over two lines."""


def layout(page: Path, profile_dir: Path, width: int) -> dict[str, object]:
    """The page measured in a frame exactly ``width`` CSS pixels wide (a window cannot be made that narrow)."""
    frame = page.with_name(f"frame-{width}.html")
    measured = html.escape(page.read_text().replace("</body>", MEASURE + "</body>"))
    frame.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe style="border:0;width:{width}px;height:900px" '
        f'srcdoc="{measured}"></iframe></body></html>'
    )
    dom = rendered_dom(frame, profile_dir, width + 100)
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of a real run with findings, evidence, latency samples and a budget."""
    folder = tmp_path_factory.mktemp("html")
    args = [
        "--reference-provider=missing-done,empty-data-event,reject-images,string-numbers",
        "--latency-samples=8",
        "--ttft-budget-ms=2000",
        f"--conformance-html={folder / 'report.html'}",
        "-p",
        "no:cacheprovider",
        f"--rootdir={folder}",
        "-q",
    ]
    subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder, capture_output=True, timeout=600, check=False)
    return folder / "report.html"


@pytest.fixture(scope="module")
def report_dom(report_page: Path) -> str:
    """The report page as Chromium rendered it at the default width: one browser start for the tests that read it."""
    return rendered_dom(report_page, report_page.parent / "chromium-profile")


def test_the_html_report_of_a_real_run_renders_what_a_reader_needs(report_page: Path, report_dom: str) -> None:
    text = report_page.read_text()
    assert not re.search(r"(src|href)=\"https?://", text), "the page must not load anything from the network"
    assert REFERENCE_KEY not in text
    dom = report_dom
    assert re.search(r'data-profile="roo-code">.*?openai 6.49.0.*?breaks.*?CS-009', dom, re.S)
    assert re.search(r'data-profile="kilo-provider-defined">.*?unreleased PR loader.*?breaks.*?EXT-003', dom, re.S)
    assert "<dt>clients</dt><dd>breaks kilo-code, roo-code, cline, kimi-cli" in dom
    assert "spec deviation; no profiled client is known to break" in dom
    cs004 = re.search(r'<div class="finding MUST" data-check="CS-004">.*?</div>', dom, re.S)
    assert cs004 and '<dt>fix</dt><dd><span class="fix">end every stream with data: [DONE]</span>' in cs004.group()
    assert 'data-model="reference/coder"' in dom
    assert "the reference provider with faults: missing-done,empty-data-event" in dom


def test_evidence_is_collapsed_whole_and_marks_the_part_at_fault(report_dom: str) -> None:
    dom = report_dom
    im001 = re.search(r'data-check="IM-001">.*?</div>', dom, re.S)
    assert im001, "the refused image request is a finding"
    evidence = re.search(r'<details class="evidence"><summary>(.*?)</summary><pre>(.*?)</pre>', im001.group(), re.S)
    assert evidence and "POST http://127.0.0.1:" in evidence.group(1)
    assert '  "model": "reference/coder",' in evidence.group(2)  # the request body, pretty-printed in full
    assert re.search(r"got\s+<mark>400</mark>", evidence.group(2))
    ext003 = re.search(r'data-check="EXT-003">.*?</div>', dom, re.S)
    assert ext003 and "<dt>found</dt><dd><code><mark>" in ext003.group()


def test_latency_charts_have_axes_p50_p95_and_the_budget(report_dom: str) -> None:
    dom = report_dom
    ttft = re.search(r'<svg role="img" aria-label="TTFT distribution".*?</svg>', dom, re.S)
    assert ttft, "a TTFT chart"
    chart = ttft.group()
    assert ">count</text>" in chart and ">ms</text>" in chart and chart.count("<line") >= 5
    for mark in ("p50", "p95", "budget"):
        assert re.search(rf'<g class="mark-{mark}"><line [^>]*>(</line>)?<text [^>]*>{mark} [\d.]+</text>', chart), mark
    assert "budget 2000.0" in chart
    assert 'aria-label="E2E distribution"' in dom and 'aria-label="inter-chunk gaps"' in dom


@pytest.mark.parametrize("width", [400, 1200])
def test_nothing_is_cut_off_or_broken_at_phone_and_desktop_widths(report_page: Path, width: int) -> None:
    measured = layout(report_page, report_page.parent / f"chromium-profile-{width}", width)
    assert measured["width"] <= width and measured["page"] <= measured["width"]
    assert measured["cutOff"] == [] and measured["scrolling"] == []
    assert measured["ids"] > 10 and measured["brokenIds"] == []


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

"""Hostile providers: every hostile fault of the reference provider ends in a finding within its bound, with
memory bounded, no traceback, and the key masked in every output."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pytest

from conformance.client import Http, HttpSettings
from conformance.reference import hostile
from conformance.reference.faults import FAULTS
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from tests.conftest import outcomes, run

pytest_plugins = ["pytester"]
HOSTILE = (
    "huge-body",
    "gzip-bomb",
    "never-answer",
    "slow-drip",
    "endless-stream",
    "reset-mid-stream",
    "invalid-utf8",
    "deep-json",
    "nan-in-models",
    "duplicate-keys",
    "redirect-other-origin",
    "echo-key",
    "cut-mid-stream",
    "keepalive-non-json",
    "error-200",
    "html-errors",
    "cross-origin-baseurl",
)
TIMEOUT_S = 2


@pytest.mark.parametrize("fault", HOSTILE)
def test_a_hostile_fault_ends_in_its_finding_within_the_bounds(pytester: pytest.Pytester, fault: str) -> None:
    # a second, ordinary fault guarantees findings that show exchanges, so echoed keys would have a way out
    result, data = run(
        pytester,
        f"--reference-provider={fault},missing-done",
        f"--request-timeout={TIMEOUT_S}",
        "--max-body-mb=4",
        "--junitxml=junit.xml",
        "--conformance-markdown=r.md",
        "-rA",
        "--latency-samples=1",
        "--latency-warmup=0",
    )
    flagged = outcomes(data, "failed", "warned")
    assert set(FAULTS[fault].breaks) <= flagged, result.stdout.str()
    assert outcomes(data, "error") == set()
    outputs = [
        result.stdout.str(),
        result.stderr.str(),
        *(Path(pytester.path, name).read_text() for name in ("report.json", "junit.xml", "r.md")),
    ]
    for text in outputs:
        assert "Traceback" not in text and "INTERNALERROR" not in text
        assert REFERENCE_KEY not in text


def _get(settings: HttpSettings, url: str) -> object:
    async def go() -> object:
        async with Http(settings) as http:
            return await http.request("GET", url)

    return asyncio.run(go())


@pytest.mark.parametrize("fault", ["gzip-bomb", "huge-body"])
def test_memory_stays_within_the_body_cap(fault: str) -> None:
    hostile._bomb()  # the server's own cached bomb is not the client's memory
    cap = 2 << 20
    with ReferenceServer(ReferenceConfig(faults=frozenset({fault}))) as server:
        tracemalloc.start()
        try:
            exchange = _get(HttpSettings(max_body_bytes=cap, timeout_s=10), f"{server.base_url}/models")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert exchange.error is not None and "larger than" in exchange.error  # type: ignore[attr-defined]
    assert peak < 4 * cap + (4 << 20), f"peak {peak / 1048576:.1f} MiB for a {cap / 1048576:g} MiB cap"


def test_a_server_that_never_answers_is_cut_off_at_the_timeout() -> None:
    with ReferenceServer(ReferenceConfig(faults=frozenset({"never-answer"}))) as server:
        exchange = _get(HttpSettings(timeout_s=0.5), f"{server.base_url}/models")
    assert exchange.status is None  # type: ignore[attr-defined]
    assert "did not finish within 0.5 s" in exchange.error  # type: ignore[attr-defined]


def test_the_run_budget_stops_an_endless_battery(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider=endless-stream", "--run-budget-s=2", "-k", "CS-")
    budget = [r for r in data["results"] if "run budget" in r["message"]]
    assert budget and {r["outcome"] for r in budget} == {"skipped"}
    assert "Traceback" not in result.stdout.str()


def test_log_records_made_during_a_run_are_masked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(
        "import logging\n"
        "def pytest_runtest_call(item):\n"
        f"    logging.getLogger('provider').warning('key in a log: %s', {REFERENCE_KEY!r})\n"
    )
    result = pytester.runpytest(
        "--reference-provider", "-k", "LST-001", "-o", "log_level=WARNING", "-rA", "--junitxml=junit.xml"
    )
    assert "key in a log: ***" in result.stdout.str()
    assert REFERENCE_KEY not in result.stdout.str()
    assert REFERENCE_KEY not in Path(pytester.path, "junit.xml").read_text()

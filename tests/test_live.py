"""The live battery end to end against the reference provider: every live check passes on the clean server and
has a fault made to fail it (``tests/test_client_truth.py`` runs the battery on each fault and shows its checks
failing); the hosted, embedded and plain flows; hostile basics; no leaked key."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from conformance import clients, report
from conformance.catalogue import catalogue
from conformance.reference.faults import FAULTS
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from tests.conftest import embedded, outcomes, run, write_json

pytest_plugins = ["pytester"]
LIVE_IDS = {c.id for c in catalogue() if c.live}
ALL_WIRE_APIS = ("--wire-api=chat", "--wire-api=responses", "--wire-api=messages", "--wire-api=gemini")
OTHERWISE_SHOWN = {
    "LST-005": "test_a_full_endpoint_url_is_accepted_and_the_report_says_who_breaks",
    "LAT-003": "test_a_budget_turns_latency_into_a_verdict",
    "CE-004": "test_ce_004_passes_when_429_carries_retry_after (and the rate-limit-no-retry-after fault)",
    "MDV-007": "tests/test_models_dev.py::test_a_registry_is_checked_live_at_each_providers_api_when_a_key_is_given",
}


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", REFERENCE_KEY)


def test_the_clean_reference_provider_passes_every_live_check(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider", *ALL_WIRE_APIS)
    assert result.ret == 0, result.stdout.str()
    assert report.schema_errors(data) == []
    assert outcomes(data, "failed", "warned", "error") == set()
    assert LIVE_IDS - outcomes(data, "passed") == {"CE-004", "LST-005", "LAT-003", "MDV-007"}
    verdicts = {name: p["verdict"] for name, p in data["profiles"].items()}
    assert verdicts == dict.fromkeys(clients.NAMES, "works")
    assert data["metrics"]["LAT-002"]["reference/coder"]["ttft_ms"]["n"] == 5
    result.stdout.fnmatch_lines(
        [
            "client verdicts:",
            "  kilo-code: works  [[]ai 6.0.168 + @ai-sdk/openai-compatible 2.0.48 (npm)[]]",
            "  roo-code: works  [[]openai 6.49.0 (npm)[]]",
            "*kilo-provider-defined (unreleased PR loader): works*",
        ]
    )


def test_every_live_check_is_shown_failing() -> None:
    """Every live check is broken by a fault (the client-truth test shows each failing there) or shown otherwise."""
    broken = {cid for fault in FAULTS.values() for cid in fault.breaks}
    assert LIVE_IDS - broken - set(OTHERWISE_SHOWN) == set()


def test_ce_004_passes_when_429_carries_retry_after(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider=rate-limit")
    assert result.ret == 0
    assert "CE-004" in outcomes(data, "passed")


def test_a_failure_names_the_fault_and_shows_the_exchange(pytester: pytest.Pytester) -> None:
    result, _ = run(pytester, "--reference-provider=missing-done", "-k", "CS-004")
    result.stdout.fnmatch_lines(
        [
            "*CS-004 [[]MUST[]] The stream ends with `data: [[]DONE[]]` and closes",
            "subject: reference/coder    input: the reference provider with faults: missing-done",
            "  - the stream has no data: [[]DONE[]]",
            '      sent POST http://127.0.0.1:*/v1/chat/completions {*"stream": true*',
            "        got  200 text/event-stream: ",
            "            event * of *: data: {*",
            "          > event * of *: data: {*usage*",
            "            (the stream ends here, the connection closed)",
            "*fix:*end every stream with data: [[]DONE[]]*",
            "*reproduce: curl -sS -N -X POST http://127.0.0.1:*/v1/chat/completions "
            '-H "authorization: Bearer $PROVIDER_API_KEY" *--data-raw *',
        ]
    )


def test_the_hosted_flow_with_headers_and_key(pytester: pytest.Pytester, server: ReferenceServer, keyed: None) -> None:
    result, data = run(pytester, f"--provider-url={server.manifest_url}", "--provider-header=X-Team: conformance")
    assert result.ret == 0, result.stdout.str()
    assert data["target"] == {"kind": "provider-url", "where": server.manifest_url}
    assert {"MAN-001", "EXT-003", "LST-001", "CS-004", "LAT-001"} <= outcomes(data, "passed")


def test_the_embedded_flow_reaches_the_manifest_base_url(
    pytester: pytest.Pytester, server: ReferenceServer, keyed: None
) -> None:
    manifest = {**embedded()[0], "baseUrl": server.base_url}
    models = json.loads(ReferenceServer.__module__ and _extended(server))
    source = write_json(pytester.path / "p.json", [manifest, models])
    result, data = run(pytester, f"--provider-json={source}")
    assert result.ret == 0, result.stdout.str()
    assert {"EMB-004", "CC-005", "CS-008"} <= outcomes(data, "passed")


def _extended(server: ReferenceServer) -> str:
    import httpx

    return httpx.get(f"{server.base_url}/models?extended=true").text


def test_offline_embedded_runs_skip_every_live_check_with_the_reason(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    manifest = {**embedded()[0], "baseUrl": server.base_url}
    source = write_json(pytester.path / "p.json", [manifest, json.loads(_extended(server))])
    result, data = run(pytester, f"--provider-json={source}", "--offline", "-rs")
    assert result.ret == 0
    live = [r for r in data["results"] if r["id"] in LIVE_IDS]
    assert live and {r["outcome"] for r in live} == {"skipped"}
    assert {r["message"] for r in live} == {"--offline: nothing is sent over the network"}


def test_the_plain_flow_checks_what_the_endpoint_lists(
    pytester: pytest.Pytester, server: ReferenceServer, keyed: None
) -> None:
    result, data = run(pytester, f"--base-url={server.base_url}")
    assert result.ret == 0, result.stdout.str()
    assert data["target"]["kind"] == "base-url"
    assert {"LST-001", "CC-001", "CS-004", "CT-001"} <= outcomes(data, "passed")
    assert {"CX-001", "IM-001"} <= outcomes(data, "skipped")
    assert not any(r["id"].startswith(("MAN-", "EXT-", "EMB-")) for r in data["results"])


def test_a_full_endpoint_url_is_accepted_and_the_report_says_who_breaks(
    pytester: pytest.Pytester, server: ReferenceServer, keyed: None
) -> None:
    result, data = run(pytester, f"--base-url={server.base_url}/chat/completions")
    assert result.ret == 0
    message = next(r["message"] for r in data["results"] if r["id"] == "LST-005")
    assert "Kimi Code CLI and Codex" in message and "accept this form" in message
    assert "CC-001" in outcomes(data, "passed")


def test_a_model_can_be_chosen(pytester: pytest.Pytester, server: ReferenceServer, keyed: None) -> None:
    _, data = run(pytester, f"--provider-url={server.manifest_url}", "--model=reference/mini", "-k", "CC-001")
    assert {r["subject"] for r in data["results"]} == {"reference/mini"}
    _, data = run(pytester, f"--provider-url={server.manifest_url}", "--all-models", "-k", "CC-001")
    assert {r["subject"] for r in data["results"]} == {"reference/coder", "reference/mini"}


def test_the_wire_api_chooses_the_checks(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider", "--wire-api=messages", "-m", "live")
    groups = {r["id"].split("-")[0] for r in data["results"]}
    assert groups == {"LST", "AN"}
    assert data["profiles"]["codex"]["verdict"] == "not-applicable"


def test_client_narrows_the_run_to_one_profile(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider", "--client=kilo-provider-defined")
    assert result.ret == 0
    assert set(data["profiles"]) == {"kilo-provider-defined"}
    ran = {r["id"] for r in data["results"]}
    assert {"MAN-001", "CC-005", "CS-004", "CT-001"} <= ran
    assert not ran & {"CC-008", "LAT-002"}


def test_a_budget_turns_latency_into_a_verdict(pytester: pytest.Pytester, keyed: None) -> None:
    with ReferenceServer(ReferenceConfig(ttft_ms=60)) as slow:
        failing, data = run(
            pytester, f"--provider-url={slow.manifest_url}", "--ttft-budget-ms=20", "-k", "LAT", "--latency-samples=2"
        )
        assert failing.ret == 1
        assert outcomes(data, "failed") == {"LAT-003"}
        passing, data = run(
            pytester, f"--provider-url={slow.manifest_url}", "--ttft-budget-ms=5000", "-k", "LAT", "--latency-samples=2"
        )
        assert passing.ret == 0
        assert "LAT-003" in outcomes(data, "passed")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_is_a_finding_not_a_traceback(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, f"--base-url=http://127.0.0.1:{_closed_port()}/v1", "--model=m")
    assert result.ret == 1
    assert "LST-001" in outcomes(data, "failed")
    listing = next(r for r in data["results"] if r["id"] == "LST-001")
    assert "could not connect" in listing["findings"][0]["exchange"]
    assert "Traceback" not in result.stdout.str() and "INTERNALERROR" not in result.stdout.str()


def test_a_tls_failure_is_a_finding(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    plain_http = server.base_url.replace("http://", "https://")
    result, data = run(pytester, f"--base-url={plain_http}", "--model=reference/coder", "-k", "LST-001")
    assert result.ret == 1
    exchange = next(r for r in data["results"] if r["id"] == "LST-001")["findings"][0]["exchange"]
    assert "could not connect" in exchange and "SSL" in exchange
    assert "Traceback" not in result.stdout.str()


def test_an_unreachable_manifest_fails_man_001_and_skips_the_rest(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, f"--provider-url=http://127.0.0.1:{_closed_port()}/v1/models?provider=true")
    assert result.ret == 1
    assert outcomes(data, "failed") == {"MAN-001"}
    assert "could not connect" in next(r["message"] for r in data["results"] if r["id"] == "MAN-001")


def test_a_slow_server_meets_the_request_timeout(pytester: pytest.Pytester, keyed: None) -> None:
    with ReferenceServer(ReferenceConfig(ttft_ms=30_000)) as slow:  # far past the timeout, however loaded the machine
        result, data = run(pytester, f"--provider-url={slow.manifest_url}", "--request-timeout=0.5", "-k", "CS-004")
    assert result.ret == 1
    assert "did not finish within 0.5 s" in next(r["message"] for r in data["results"] if r["id"] == "CS-004")


def test_the_api_key_never_appears_in_any_output(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-3f1e0c9a7b"
    monkeypatch.setenv("PROVIDER_API_KEY", canary)
    result, _ = run(
        pytester, f"--provider-url={server.manifest_url}", "--junitxml=junit.xml", "--conformance-markdown=r.md", "-rA"
    )
    assert result.ret == 1  # the reference provider does not know this key
    outputs = [
        result.stdout.str(),
        result.stderr.str(),
        *(p.read_text() for p in (pytester.path / n for n in ("report.json", "junit.xml", "r.md"))),
    ]
    assert all(canary not in text for text in outputs)


def test_xdist_workers_share_one_fetch_and_one_merged_report(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = pytester.runpytest_subprocess("--reference-provider", "-n", "2", "--conformance-report=report.json")
    assert result.ret == 0, result.stdout.str()
    data = json.loads((pytester.path / "report.json").read_text())
    assert outcomes(data, "failed", "warned", "error") == set()
    assert len(data["results"]) == len({(r["id"], r["subject"]) for r in data["results"]})
    assert "reference/coder" in data["metrics"]["LAT-002"]
    assert data["metrics"]["LAT-001"]["manifest"]["fetch_ms"] > 0  # every metric, whichever worker measured it
    result.stdout.fnmatch_lines(["*manifest fetch: * ms", "*reference/coder: TTFT p50*"])
    (ce_004,) = [r for r in data["results"] if r["id"] == "CE-004"]  # it would see only its own worker's requests
    assert ce_004["outcome"] == "skipped" and "each of the 2 xdist workers sees only its own" in ce_004["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference-provider=no-such-fault"], "ERROR: unknown fault 'no-such-fault'; known faults: *"),
        (["--provider-url=not a url"], "ERROR: --provider-url=not a url: not a usable URL: *"),
        (["--base-url=ftp://x/v1"], "ERROR: --base-url=ftp://x/v1: not a usable URL: its scheme is 'ftp'*"),
        (["--reference-provider", "--offline"], "ERROR: --offline sends nothing over the network*"),
        (["--reference-provider", "--concurrency=0"], "ERROR: --concurrency must be at least 1, got '0'"),
        (["--reference-provider", "--latency-samples=x"], "ERROR: --latency-samples expects a whole number*"),
        (["--reference-provider", "--ttft-budget-ms=-5"], "ERROR: --ttft-budget-ms must be a positive number*"),
        (["--reference-provider", "--provider-header=nocolon"], 'ERROR: --provider-header expects "Name: value"*'),
        (
            ["--reference-provider", "--base-url=http://a/v1"],
            "ERROR: give one target per run, not --base-url and --reference-provider",
        ),
    ],
)
def test_bad_live_command_lines_are_one_usage_error(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()

"""Live findings a provider engineer can trust: each fault made for a real server's shape fails exactly its checks,
no live check passes having observed nothing, one cause is said once, and a finding shows the offending event,
a fix, the server's own words and a command to send the request again."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.catalogue import catalogue
from conformance.reference import catalog
from conformance.reference import server as reference_server
from conformance.reference.faults import FAULTS
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from tests.conftest import embedded, outcomes, run, write_json

pytest_plugins = ["pytester"]
LIVE_IDS = {c.id for c in catalogue() if c.live}
ALL_WIRE_APIS = ("--wire-api=chat", "--wire-api=responses", "--wire-api=messages", "--wire-api=gemini")
REAL_SHAPES = (
    "finish-reason-missing",
    "responses-completed-incomplete",
    "responses-error-stream",
    "messages-bearer-only",
    "messages-stream-as-json",
    "reject-auto-tool-choice",
    "drop-after-error",
    "refuse-everything",
)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", REFERENCE_KEY)


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


def _results(data: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [r for r in data["results"] if r["id"] == check_id]


def _flagged_findings(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        f
        for r in data["results"]
        if r["id"] in LIVE_IDS and r["outcome"] in ("failed", "warned")
        for f in r.get("findings", ())
    ]


@pytest.mark.parametrize("name", REAL_SHAPES)
def test_each_real_server_shape_fails_exactly_its_checks(pytester: pytest.Pytester, name: str) -> None:
    result, data = run(pytester, f"--reference-provider={name}", *ALL_WIRE_APIS)
    assert outcomes(data, "failed", "warned") == set(FAULTS[name].breaks), result.stdout.str()
    assert outcomes(data, "error") == set()
    findings = _flagged_findings(data)
    assert all(f.get("fix") for f in findings)
    assert all(f.get("reproduce", "").startswith("curl ") for f in findings if "exchange" in f)
    assert REFERENCE_KEY not in result.stdout.str()


def test_a_missing_finish_reason_key_is_shown_at_its_event(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=finish-reason-missing", "-k", "CS-003")
    [finding] = _results(data, "CS-003")[0]["findings"]
    assert finding["message"].startswith("event 0: the choice has no finish_reason key")
    assert "> event 0 of " in finding["exchange"]


def test_a_completed_event_with_an_incomplete_status_fails_rs_004(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=responses-completed-incomplete", "--wire-api=responses")
    [finding] = _results(data, "RS-004")[0]["findings"]
    assert "response.completed carries status 'incomplete'" in finding["message"]
    assert '"max_output_tokens": 16' in finding["exchange"]
    assert "response.incomplete" in finding["fix"]


def test_rs_004_reads_an_error_answered_as_an_event_stream(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=responses-error-stream", "--wire-api=responses")
    [rs_004] = _results(data, "RS-004")
    [finding] = rs_004["findings"]  # both streams end the same way: said once
    assert finding["message"].startswith('event 0: the failure comes as a Chat Completions error ("The model failed')
    assert "> event 0 of 2" in finding["exchange"] and 'event: error` with {"type": "error"' in finding["fix"]
    assert 'got 500 saying "The model failed to start."' in _results(data, "RS-002")[0]["message"]


def test_a_bearer_only_messages_endpoint_is_said_once(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=messages-bearer-only", "--wire-api=messages")
    [finding] = _results(data, "AN-001")[0]["findings"]
    assert "refused in x-api-key (401) and accepted as Authorization: Bearer" in finding["message"]
    assert {"AN-002", "AN-003", "AN-004"} <= outcomes(data, "passed")


def test_a_fix_follows_the_servers_message_not_against_it(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=reject-auto-tool-choice", "-k", "CC-006 or CT-003")
    for check_id in ("CC-006", "CT-003"):
        [finding] = _results(data, check_id)[0]["findings"]
        assert "--enable-auto-tool-choice" in finding["message"]
        assert finding["fix"].startswith("accept tool_choice") and "ignore" not in finding["fix"]


def test_stream_evidence_points_at_the_offending_event_and_the_end(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=usage-every-chunk,missing-done", "-k", "CS-004 or CS-005")
    usage = _results(data, "CS-005")[0]["findings"][0]
    assert usage["message"].startswith("15 chunks carry usage: events 0, 1")
    assert "> event 1 of 15: data: " in usage["exchange"]
    assert "event 0 of 15" in usage["exchange"] and "event 3 of" not in usage["exchange"]
    end = _results(data, "CS-004")[0]["findings"][0]["exchange"]
    assert "> event 14 of 15" in end and "(the stream ends here, the connection closed)" in end


def test_no_live_check_passes_against_a_provider_that_refuses_every_request(
    pytester: pytest.Pytester, keyed: None
) -> None:
    with ReferenceServer(ReferenceConfig(faults=frozenset({"refuse-everything"}))) as refusing:
        manifest = {**embedded()[0], "baseUrl": refusing.base_url}
        source = write_json(pytester.path / "p.json", [manifest, catalog.extended(frozenset())])
        _, data = run(pytester, f"--provider-json={source}", "--all-models", "--ttft-budget-ms=60000", *ALL_WIRE_APIS)
    ran = {r["id"] for r in data["results"] if r["id"] in LIVE_IDS}
    assert ran == LIVE_IDS - {"LAT-001", "LST-005", "MDV-007"}  # catalog fetch, full URL, registry: other flows
    assert outcomes(data, "passed") & LIVE_IDS == set(), outcomes(data, "passed") & LIVE_IDS
    assert outcomes(data, "error") == set()
    skipped = [r for r in data["results"] if r["id"] in LIVE_IDS and r["outcome"] == "skipped"]
    assert skipped and all(r["message"] not in ("", "skipped") for r in skipped)


def test_a_request_dropped_on_a_reused_connection_is_sent_again_on_a_new_one(
    pytester: pytest.Pytester, keyed: None
) -> None:
    with ReferenceServer(ReferenceConfig(faults=frozenset({"drop-after-error"}))) as dropping:
        result, data = run(pytester, f"--base-url={dropping.base_url}", "--concurrency=1")
    assert result.ret == 0, result.stdout.str()
    assert outcomes(data, "failed", "warned", "error") == set()


@pytest.mark.parametrize(
    ("wire_apis", "holder"),
    [(ALL_WIRE_APIS, "CC-001"), (("--wire-api=responses",), "RS-001")],
    ids=["all", "responses"],
)
def test_no_key_is_one_finding_naming_the_variable(
    pytester: pytest.Pytester, server: ReferenceServer, wire_apis: tuple[str, ...], holder: str
) -> None:
    result, data = run(pytester, f"--base-url={server.base_url}", "--api-key-env=ACME_KEY", *wire_apis)
    assert result.ret == 1
    assert outcomes(data, "failed", "warned") == {holder}
    [finding] = _results(data, holder)[0]["findings"]
    assert "$ACME_KEY is not set" in finding["message"] and "export ACME_KEY=" in finding["fix"]
    skipped = [r for r in data["results"] if r["outcome"] == "skipped" and r["id"] not in ("CE-001", "CE-005")]
    assert skipped and all(f"$ACME_KEY is not set (see {holder})" in r["message"] for r in skipped)
    assert "ACME_KEY is not set" in result.stdout.str()
    # no client can send a turn without the key: the verdict says so, naming the cause, never "works"
    driven = [name for name, p in data["profiles"].items() if p["verdict"] != "not-applicable"]
    assert driven and all(data["profiles"][name]["breaks"] == [f"{holder}:no-key"] for name in driven)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("model", [(), ("--model=m",)], ids=["no-model", "a-model"])
def test_a_dead_port_is_one_cannot_connect(pytester: pytest.Pytester, model: tuple[str, ...]) -> None:
    port = _closed_port()
    result, data = run(pytester, f"--base-url=http://127.0.0.1:{port}/v1", *model, *ALL_WIRE_APIS)
    flagged = [r for r in data["results"] if r["outcome"] in ("failed", "warned", "error")]
    assert [r["id"] for r in flagged] == ["LST-001"]
    assert flagged[0]["message"].startswith(f"cannot connect to 127.0.0.1:{port}: could not connect")
    assert all(f"cannot connect to 127.0.0.1:{port}" in r["message"] for r in data["results"] if r["id"] != "LST-001")
    assert "Traceback" not in result.stdout.str()
    assert {p["verdict"] for p in data["profiles"].values()} <= {"breaks", "not-applicable"}
    assert all(p["breaks"] == ["LST-001:unreachable"] for p in data["profiles"].values() if p["verdict"] == "breaks")


@pytest.mark.parametrize(
    ("fault", "deviation", "lst_002"),
    [
        ("model-list-no-data", "no-data", "skipped"),
        ("model-list-html", "not-json", "skipped"),
        ("model-list-forbidden", "unauthorized", "skipped"),
        ("model-entry-no-object", "entry-object", "passed"),
    ],
)
def test_each_model_list_deviation_is_named_by_lst_001_alone(
    pytester: pytest.Pytester, fault: str, deviation: str, lst_002: str
) -> None:
    """A list with no list in it is LST-001's one finding: LST-002 has no ids to compare and says where to look."""
    _, data = run(pytester, f"--reference-provider={fault}", "-k", "LST")
    assert outcomes(data, "failed", "warned") == {"LST-001"}
    assert [f["key"] for f in _results(data, "LST-001")[0]["findings"]] == [f"LST-001:{deviation}"]
    [listed] = _results(data, "LST-002")
    assert listed["outcome"] == lst_002
    assert lst_002 == "passed" or "see LST-001" in listed["message"]


def test_a_mistyped_model_is_named_with_what_the_endpoint_lists(
    pytester: pytest.Pytester, server: ReferenceServer, keyed: None
) -> None:
    _, data = run(pytester, f"--base-url={server.base_url}", "--model=reference/codr")
    assert outcomes(data, "failed", "warned") == {"CC-001"}
    [finding] = _results(data, "CC-001")[0]["findings"]
    assert "does not know the model 'reference/codr'" in finding["message"]
    assert "lists reference/coder, reference/mini" in finding["message"]
    model_items = [r for r in data["results"] if r["subject"] == "reference/codr" and r["id"] != "CC-001"]
    assert model_items and all("(see CC-001)" in r["message"] for r in model_items)


def test_an_openai_list_as_the_model_catalog_points_the_live_skips_at_ext_001(
    pytester: pytest.Pytester, server: ReferenceServer
) -> None:
    _, data = run(pytester, "--reference-provider=models-as-list")
    assert "LST-001" in outcomes(data, "passed")
    [cc_001] = _results(data, "CC-001")
    assert cc_001["outcome"] == "skipped" and "see EXT-001" in cc_001["message"] and "LST-001" not in cc_001["message"]


def test_an_unreachable_models_dev_catalog_is_one_finding(pytester: pytest.Pytester, keyed: None) -> None:
    catalog_url = f"http://127.0.0.1:{_closed_port()}/api.json"
    with ReferenceServer(ReferenceConfig(faults=frozenset({"models-dev-source"}))) as hosted:
        _, data = run(pytester, f"--provider-url={hosted.manifest_url}", f"--models-dev={catalog_url}")
    assert outcomes(data, "failed") == {"MDV-001"}
    assert catalog_url in _results(data, "MDV-001")[0]["message"]
    live = [r for r in data["results"] if r["id"] in LIVE_IDS and r["subject"] == "models"]
    assert live and all("see MDV-001" in r["message"] for r in live)


def test_the_reproduce_line_is_a_curl_command_with_the_keys_variable(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider=reject-temperature", "-k", "CC-007")
    [finding] = _results(data, "CC-007")[0]["findings"]
    command = finding["reproduce"]
    assert command.startswith("curl -sS -X POST http://127.0.0.1:")
    assert '-H "authorization: Bearer $PROVIDER_API_KEY"' in command
    assert json.loads(command.split("--data-raw ", 1)[1].strip("'"))["temperature"] == 0.2
    assert f"reproduce: {command}" in result.stdout.str()


def test_a_refused_model_list_names_the_unset_key_variable() -> None:
    from conformance.resolve import Fetched

    refused = Fetched("https://api.example/v1/models?extended=true", 401, "application/json", b"{}")
    error = refused.part("model list", 1024, unset_key="ACME_KEY").error
    assert error is not None and error.message.endswith("answered 401, not 200 (no key was sent: $ACME_KEY is not set)")
    assert "ACME_KEY" not in str(refused.part("model list", 1024).error)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_the_hosted_flow_fetches_the_manifest_once(
    pytester: pytest.Pytester, keyed: None, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    if workers:
        pytest.importorskip("xdist")
    queries: list[str] = []
    models = reference_server._Provider.models

    async def counted(self: Any, request: Any) -> Any:
        queries.append(request.url.query)
        return await models(self, request)

    monkeypatch.setattr(reference_server._Provider, "models", counted)
    with ReferenceServer() as hosted:
        result = pytester.runpytest_subprocess(
            f"--provider-url={hosted.manifest_url}", "-p", "no:cacheprovider", *workers
        )
    assert result.ret == 0, result.stdout.str()
    assert queries.count("provider=true") == 1 and queries.count("extended=true") == 1


def test_a_refused_key_is_one_finding(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", "sk-not-this-one")
    _, data = run(pytester, f"--base-url={server.base_url}")
    assert outcomes(data, "failed", "warned") == {"CC-001"}
    [finding] = _results(data, "CC-001")[0]["findings"]
    assert finding["message"].startswith("the endpoint refuses the key in $PROVIDER_API_KEY: a well-formed request")
    assert finding["message"].endswith('got 401 saying "Incorrect API key provided."')
    assert "LST-001" in outcomes(data, "passed")
    assert data["profiles"]["roo-code"]["breaks"] == ["CC-001:key-refused"]


def test_without_a_key_an_endpoint_failing_everything_is_one_finding_naming_the_variable(
    pytester: pytest.Pytester,
) -> None:
    with ReferenceServer(ReferenceConfig(faults=frozenset({"refuse-everything"}))) as refusing:
        _, data = run(pytester, f"--base-url={refusing.base_url}", "--model=reference/coder")
    assert outcomes(data, "failed", "warned") == {"LST-001"}
    [finding] = _results(data, "LST-001")[0]["findings"]
    assert finding["message"].startswith("no API key was given ($PROVIDER_API_KEY is not set) and every request failed")
    assert all(
        "$PROVIDER_API_KEY is not set (see LST-001)" in r["message"] for r in data["results"] if r["id"] != "LST-001"
    )


def test_a_message_stream_answered_as_json_says_so(pytester: pytest.Pytester) -> None:
    _, data = run(pytester, "--reference-provider=messages-stream-as-json", "--wire-api=messages", "-k", "AN-002")
    [finding] = _results(data, "AN-002")[0]["findings"]
    assert finding["message"] == "stream: true got application/json with no server-sent event"

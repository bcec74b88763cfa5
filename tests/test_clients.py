"""Client profiles as data, and the verdict each gets from report entries: the rules a reader of a verdict relies on
(a finding restricted to one client speaks only of it, an unknown deviation is unverified, never works silently
and never breaks, a verdict is never "not applicable" while one of its checks failed)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import clients, report
from conformance.catalogue import get
from conformance.clients.requests import body
from conformance.findings import Finding, Outcome, Result
from conformance.live import ModelInfo

CODER = ModelInfo("acme/coder", max_tokens=65536, tool_call=True)


def _entry(check_id: str, *findings: Finding, outcome: Outcome = Outcome.FAILED) -> dict[str, Any]:
    check = get(check_id)
    return report.entry(check, Result(check_id, "acme/coder", outcome, findings))


def _passed(check_id: str) -> dict[str, Any]:
    return _entry(check_id, outcome=Outcome.PASSED)


def _verdicts(*entries: dict[str, Any]) -> dict[str, str]:
    return {name: v["verdict"] for name, v in clients.verdicts(entries).items()}


def test_every_profile_is_named_and_every_reaction_has_a_source() -> None:
    assert clients.NAMES == (
        "kilo-code",
        "roo-code",
        "cline",
        "kimi-cli",
        "codex",
        "claude-code",
        "kimi-cli-gemini",
        "kilo-provider-defined",
    )
    for client in clients.CLIENTS:
        assert client.library and client.client
        for key, reaction in client.reactions.items():
            assert get(key.split(":")[0]), key
            assert reaction.source.strip(), (client.name, key)
    unreleased = [c.name for c in clients.CLIENTS if not c.released]
    assert unreleased == ["kilo-provider-defined"]
    assert clients.BY_NAME["kilo-provider-defined"].note == "unreleased PR loader"


def test_a_deviation_key_is_looked_up_refined_first_then_by_its_check() -> None:
    kilo = clients.BY_NAME["kilo-code"]
    assert kilo.effect("CS-002:chunk-without-choices") == "breaks"
    assert kilo.effect("CS-002:chunk-id-changes") == "unaffected"
    assert kilo.effect("CS-006:keepalive") == "breaks"  # falls back to CS-006
    assert kilo.effect("LST-004") == "unverified"


def test_the_same_check_breaks_one_client_and_not_another() -> None:
    no_choices = _entry("CS-002", Finding("event 1: choices is missing", deviation="chunk-without-choices"))
    verdicts = _verdicts(_passed("CC-001"), no_choices, _passed("RS-001"), _passed("AN-001"))
    assert verdicts["kilo-code"] == "breaks"
    assert verdicts["roo-code"] == verdicts["kimi-cli"] == "works-with-warnings"
    assert verdicts["codex"] == verdicts["claude-code"] == "works"
    assert no_choices["findings"][0] == {
        "message": "event 1: choices is missing",
        "key": "CS-002:chunk-without-choices",
        "breaks": ["kilo-code"],
        "degrades": [],
    }


def test_degraded_is_worse_than_warnings_and_better_than_breaks() -> None:
    template = _entry("CX-002", Finding("content holds <|im_start|>"), outcome=Outcome.WARNED)
    empty_data = _entry("CS-009", Finding("1 event has empty data"))
    assert _verdicts(template)["kimi-cli"] == "degraded"
    assert _verdicts(template, empty_data)["kimi-cli"] == "breaks"
    verdict = clients.verdicts([template, empty_data], ["kimi-cli"])["kimi-cli"]
    assert (verdict["breaks"], verdict["degraded"], verdict["failed"], verdict["warned"]) == (
        ["CS-009"],
        ["CX-002"],
        ["CS-009"],
        ["CX-002"],
    )


def test_a_finding_about_one_clients_request_speaks_only_of_that_client() -> None:
    refused = _entry("CC-008", Finding("roo-code's agent turn was refused: got 400", clients=("roo-code",)))
    verdicts = clients.verdicts([refused])
    assert verdicts["roo-code"]["verdict"] == "breaks"
    assert verdicts["roo-code"]["failed"] == ["CC-008"]
    assert verdicts["kilo-code"]["verdict"] == "works"
    assert verdicts["kilo-code"]["failed"] == []
    assert refused["findings"][0]["breaks"] == ["roo-code"]


def test_an_unmeasured_deviation_is_a_warning_that_says_so() -> None:
    html_404 = _entry("LST-004", Finding("an unknown path gives an HTML page"), outcome=Outcome.WARNED)
    verdict = clients.verdicts([html_404], ["cline"])["cline"]
    assert (verdict["verdict"], verdict["unverified"], verdict["breaks"]) == ("works-with-warnings", ["LST-004"], [])
    assert report.behind(verdict) == ["LST-004 unverified"]


def test_a_check_the_suite_could_not_run_is_never_works() -> None:
    crashed = report.entry(get("CS-004"), Result("CS-004", "acme/coder", Outcome.ERROR, note="boom"))
    verdict = clients.verdicts([crashed], ["roo-code"])["roo-code"]
    assert (verdict["verdict"], verdict["unverified"], verdict["failed"]) == (
        "works-with-warnings",
        ["CS-004"],
        ["CS-004"],
    )


def test_not_applicable_only_when_none_of_the_clients_checks_ran() -> None:
    skipped = _entry("CS-004", outcome=Outcome.SKIPPED)
    verdicts = _verdicts(skipped, _passed("RS-001"))
    assert verdicts["roo-code"] == "not-applicable"
    assert verdicts["codex"] == "works"
    assert verdicts["claude-code"] == "not-applicable"
    # the Provider Defined loader needs a catalog: a chat endpoint alone says nothing about it
    assert _verdicts(_passed("CS-004"))["kilo-provider-defined"] == "not-applicable"
    broken = _entry("EXT-003", Finding("cost is null"))
    assert _verdicts(broken)["kilo-provider-defined"] == "breaks"


@pytest.mark.parametrize(
    ("check_id", "key", "only", "said"),
    [
        ("CS-009", "CS-009", (), "breaks kilo-code, roo-code, cline, kimi-cli, kilo-provider-defined"),
        ("CX-002", "CX-002", (), "degrades kilo-code, roo-code, cline, kimi-cli"),
        ("CS-004", "CS-004:no-done", (), "spec deviation; no profiled client is known to break"),
        ("RS-002", "RS-002:no-sequence", (), "spec deviation; every profiled client tolerates it"),
        ("CC-008", "CC-008", ("cline",), "breaks cline"),
        ("LAT-002", "LAT-002", (), "spec deviation; no profiled client reads this"),
    ],
)
def test_a_finding_says_which_clients_it_breaks(check_id: str, key: str, only: tuple[str, ...], said: str) -> None:
    assert clients.says(check_id, key, only).startswith(said)


def test_each_client_sends_its_own_request() -> None:
    roo = body(clients.BY_NAME["roo-code"].requests[0], CODER)
    assert roo["temperature"] == 0 and roo["parallel_tool_calls"] is False
    assert roo["tools"][0]["function"]["strict"] is True and "max_tokens" not in roo
    assert roo["stream"] is True and roo["stream_options"] == {"include_usage": True}
    kilo = body(clients.BY_NAME["kilo-code"].requests[0], CODER)
    assert kilo["max_tokens"] == 32000 and "temperature" not in kilo and "strict" not in kilo["tools"][0]["function"]
    cline = body(clients.BY_NAME["cline"].requests[0], CODER)
    assert (cline["max_tokens"], cline["tool_choice"], cline["parallel_tool_calls"]) == (65536, "auto", False)
    kimi = [body(r, CODER) for r in clients.BY_NAME["kimi-cli"].requests]
    assert "max_tokens" not in kimi[0] and kimi[1]["tools"] == []
    no_tools = body(clients.BY_NAME["roo-code"].requests[0], ModelInfo("acme/plain", tool_call=False))
    assert "tools" not in no_tools and "parallel_tool_calls" not in no_tools

"""The pytest-free engine entry: a whole battery returns the same JSON report the plugin writes, and each client's
own request (CC-008) is judged for that client only."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import engine, report
from conformance.settings import Settings, Target
from tests.conftest import run

pytest_plugins = ["pytester"]


def _run(faults: str, **settings: Any) -> dict[str, Any]:
    return engine.run(Settings(Target("reference", faults), latency_samples=1, latency_warmup=0, **settings))


def _verdicts(data: dict[str, Any]) -> dict[str, str]:
    return {name: p["verdict"] for name, p in data["profiles"].items()}


def test_a_refused_field_breaks_only_the_client_that_sends_it() -> None:
    data = _run("reject-temperature")
    assert report.schema_errors(data) == []
    (own,) = [r for r in data["results"] if r["id"] == "CC-008"]
    assert own["outcome"] == "failed"
    (finding,) = own["findings"]
    assert finding["clients"] == ["roo-code"] and finding["breaks"] == ["roo-code"]
    assert "temperature" in finding["fix"] and "got 400" in finding["message"]
    verdicts = _verdicts(data)
    assert verdicts["roo-code"] == "breaks"
    assert verdicts["kilo-code"] == verdicts["cline"] == verdicts["kimi-cli"] == "works-with-warnings"
    assert data["profiles"]["kilo-code"]["tolerated"] == ["CC-007:refused"]


def test_the_engine_and_the_plugin_give_the_same_verdicts(pytester: pytest.Pytester) -> None:
    faults = "reject-max-tokens,tool-repeated-name"
    _, plugin = run(pytester, f"--reference-provider={faults}", "--latency-samples=1", "--latency-warmup=0")
    alone = _run(faults)
    assert plugin["profiles"] == alone["profiles"]
    assert _verdicts(alone) == {
        "kilo-code": "breaks",
        "roo-code": "works-with-warnings",
        "cline": "breaks",
        "kimi-cli": "degraded",
        "codex": "not-applicable",
        "claude-code": "not-applicable",
        "kimi-cli-gemini": "not-applicable",
        "kilo-provider-defined": "breaks",
    }


def test_one_client_chosen_sends_only_that_clients_request() -> None:
    data = _run("reject-stream-options", clients=("kimi-cli",))
    assert set(data["profiles"]) == {"kimi-cli"}
    (own,) = [r for r in data["results"] if r["id"] == "CC-008"]
    assert {tuple(f["clients"]) for f in own["findings"]} == {("kimi-cli",)}
    assert len(own["findings"]) == 2  # its agent turn and its turn without tools

"""``--wire-api=gemini`` end to end: the GG checks against the reference provider, on their own and through a plain
base URL that lists its models the Gemini way; a failure says what was sent, what came back and how to fix it.
(Each ``gemini-*`` fault failing its checks runs with every other fault in ``tests/test_live.py``.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.catalogue import catalogue
from conformance.reference.server import REFERENCE_KEY, ReferenceServer
from tests.conftest import outcomes, run

GG = {c.id for c in catalogue() if c.id.startswith("GG-")}


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


def test_the_clean_reference_passes_every_gemini_check(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider", "--wire-api=gemini", "-k", "GG-")
    assert result.ret == 0, result.stdout.str()
    assert outcomes(data, "passed") == GG
    assert len(GG) >= 4


def test_a_plain_base_url_lists_its_models_the_gemini_way(
    pytester: pytest.Pytester, server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", REFERENCE_KEY)
    result, data = run(pytester, f"--base-url={server.origin}/v1beta", "--wire-api=gemini", "-k", "GG-")
    assert result.ret == 0, result.stdout.str()
    assert {r["subject"] for r in data["results"]} == {"reference/coder"}
    skipped = {r["id"]: r["message"] for r in data["results"] if r["outcome"] == "skipped"}
    assert set(skipped) == {"GG-005"}, skipped  # no catalog says the model reasons
    assert outcomes(data, "passed") == GG - {"GG-005"}


def test_a_failure_shows_the_exchange_the_expectation_and_the_fix(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--reference-provider=gemini-openai-errors", "--wire-api=gemini", "-k", "GG-006")
    assert result.ret == 1
    [finding] = [r for r in data["results"] if r["id"] == "GG-006"]
    assert finding["outcome"] == "failed"
    result.stdout.fnmatch_lines(
        [
            "*error.status is None, not a google.rpc.Code name*",
            "*sent POST http://127.0.0.1:*/v1beta/models/reference/coder:generateContent*",
            '*got  400 application/json: {"error":{"message":"API key not valid*',
            '*fix:*{"error": {"code": 400, "status": "INVALID_ARGUMENT"*',
        ]
    )
    assert REFERENCE_KEY not in result.stdout.str()

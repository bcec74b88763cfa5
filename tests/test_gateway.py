"""Gateway scale: a reference provider serving hundreds of models behind a rate limit, run with --all-models, in
one process and spread over xdist workers. What is asserted is counted (requests in flight, 429s, early
retries, results), never timed."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from conformance.reference import catalog
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from conformance.scheduling import share
from tests.conftest import outcomes, run

pytest_plugins = ["pytester"]
GATEWAY = 300
"""As many models as the gateways users put behind one manifest (Kilo's lists 258, OpenRouter's 264)."""
HEADERS = {"authorization": f"Bearer {REFERENCE_KEY}"}


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", REFERENCE_KEY)


@pytest.fixture
def gateway() -> Iterator[ReferenceServer]:
    """300 models, at most 4 requests in flight."""
    with ReferenceServer(ReferenceConfig(models=GATEWAY, max_in_flight=4)) as running:
        yield running


def test_the_reference_serves_as_many_models_as_asked_on_every_api(gateway: ReferenceServer) -> None:
    served = catalog.served(GATEWAY)
    assert len(served) == GATEWAY and list(served)[:3] == ["reference/coder", "reference/mini", "reference/coder-003"]
    assert served["reference/mini-300"]["reasoning"] is False and served["reference/coder-299"]["reasoning"] is True
    with httpx.Client(base_url=gateway.base_url, headers=HEADERS) as client:
        assert len(client.get("/models").json()["data"]) == GATEWAY
        assert set(client.get("/models?extended=true").json()["models"]) == set(served)
        chat = client.post(
            "/chat/completions", json={"model": "reference/mini-300", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert chat.status_code == 200 and chat.json()["model"] == "reference/mini-300"
        beyond = client.post("/chat/completions", json={"model": "reference/mini-302", "messages": []})
        assert beyond.status_code == 404
        assert gateway.replies == 1  # the one reply planned, not the refusal
        gemini = client.get(f"{gateway.origin}/v1beta/models", headers={"x-goog-api-key": REFERENCE_KEY})
        assert len(gemini.json()["models"]) == GATEWAY


def test_the_rate_limit_refuses_beyond_its_limit_and_counts_an_early_return() -> None:
    """A stream held open (its first token an hour away) keeps one request in flight for as long as the test
    needs: the next request is refused, and sent again at once it comes back early, by count."""
    config = ReferenceConfig(max_in_flight=1, retry_after_s=3600, ttft_ms=3_600_000)
    body = {"model": "reference/mini", "messages": [{"role": "user", "content": "hi"}]}

    async def go(server: ReferenceServer) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, headers=HEADERS, timeout=30) as client:
            held = client.build_request("POST", "/chat/completions", json={**body, "stream": True})
            holding = await client.send(held, stream=True)  # the headers are sent, the first token is not
            refused = [await client.post("/chat/completions", json=body) for _ in range(2)]
            await holding.aclose()
            return refused

    with ReferenceServer(config) as server:
        refused = asyncio.run(go(server))
        stats = server.limit_stats
    assert [r.status_code for r in refused] == [429, 429]
    assert refused[0].headers["retry-after"] == "3600" and refused[0].headers["retry-after-ms"] == "3600000"
    assert refused[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert stats is not None and (stats.peak, stats.served, stats.refused, stats.early) == (2, 1, 2, 1)


def test_share_of_the_concurrency_adds_up_to_it() -> None:
    for concurrency in range(1, 20):
        for workers in range(1, concurrency + 1):
            parts = [share(concurrency, workers, index) for index in range(workers)]
            assert sum(parts) == concurrency and min(parts) >= 1


def test_all_models_of_a_gateway_within_its_rate_limit(
    pytester: pytest.Pytester, gateway: ReferenceServer, keyed: None
) -> None:
    """300 models, --concurrency at the provider's limit: every model checked, and the provider never saw more
    requests at once than it allows, so it never had to refuse one."""
    result, data = run(
        pytester, f"--provider-url={gateway.manifest_url}", "--all-models", "--concurrency=4", "-k", "CS-004"
    )
    assert result.ret == 0, result.stdout.str()
    checked = Counter(r["subject"] for r in data["results"] if r["id"] == "CS-004" and r["outcome"] == "passed")
    assert set(checked) == set(catalog.served(GATEWAY)) and set(checked.values()) == {1}
    stats = gateway.limit_stats
    assert stats is not None and stats.refused == 0 and stats.peak <= 4
    assert stats.served >= 2 * GATEWAY  # each model's minimal request and its stream: it did see the traffic


def test_in_one_process_a_live_check_over_a_gateway_is_one_item_and_k_still_chooses_models(
    pytester: pytest.Pytester, gateway: ReferenceServer, keyed: None
) -> None:
    """Above 100 models a live check is one item carrying every model's result, as a large catalog's checks are:
    pytest's bookkeeping of 300 items per check is not spent, the report keeps one entry per (check, model), and
    ``-k`` narrows a check to a model inside its item."""
    result, data = run(
        pytester,
        f"--provider-url={gateway.manifest_url}",
        "--all-models",
        "--concurrency=4",
        "-v",
        "-k",
        "CS-004 or (CC-001 and reference/mini-300)",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"*conformance::CS-004?{GATEWAY} subjects? PASSED*"])
    assert not any("conformance::CS-004[reference/" in line for line in result.stdout.lines)
    pairs = Counter((r["id"], r["subject"]) for r in data["results"] if r["id"] in ("CS-004", "CC-001"))
    assert set(pairs.values()) == {1}
    assert {s for (check, s) in pairs if check == "CS-004"} == set(catalog.served(GATEWAY))
    assert {s for (check, s) in pairs if check == "CC-001"} == {"reference/mini-300"}
    assert outcomes(data, "failed", "warned", "error") == set()


XDIST_GATEWAY = 24
"""Enough models to share between two workers: each worker collects every (check, model) item, so the 300 of the
tests above would cost each process a collection many times longer than the run."""


def test_under_xdist_the_models_spread_over_workers_within_the_limit_and_the_report_is_one(
    pytester: pytest.Pytester, keyed: None
) -> None:
    pytest.importorskip("xdist")
    with ReferenceServer(ReferenceConfig(models=XDIST_GATEWAY, max_in_flight=4)) as gateway:
        result = pytester.run(
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-n", "2"),
            *(f"--provider-url={gateway.manifest_url}", "--all-models", "--concurrency=4", "-k", "CS-004 or CC-001"),
            "--conformance-report=report.json",
        )
    assert result.ret == 0, result.stdout.str()
    data = json.loads((pytester.path / "report.json").read_text())
    pairs = Counter((r["id"], r["subject"]) for r in data["results"])
    assert set(pairs.values()) == {1}
    assert {s for (check, s) in pairs if check == "CS-004"} == set(catalog.served(XDIST_GATEWAY))
    assert outcomes(data, "failed", "warned", "error") == set()
    ran_on = {line.split()[0] for line in result.stdout.lines if "conformance::CS-004[" in line and "PASSED" in line}
    assert ran_on == {"[gw0]", "[gw1]"}
    stats = gateway.limit_stats
    assert stats is not None and stats.refused == 0 and stats.peak <= 4


def test_more_workers_than_the_concurrency_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = pytester.runpytest_subprocess("--reference-provider", "--concurrency=2", "-n", "3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: -n 3 starts 3 workers*more than --concurrency=2 allows*"])


def test_a_429_is_waited_out_never_sent_again_early(pytester: pytest.Pytester, keyed: None) -> None:
    """The suite asked for more than the provider allows (--concurrency=4 against a limit of 1, every reply
    0.3 s away, so the minimal requests of four models meet at the server): the refused ones come back only
    after their wait, one more is served each time, and the run passes."""
    config = ReferenceConfig(models=4, max_in_flight=1, retry_after_s=1, ttft_ms=300)
    with ReferenceServer(config) as server:
        result, data = run(
            pytester,
            f"--provider-url={server.manifest_url}",
            "--all-models",
            "--concurrency=4",
            "-k",
            "CC-001 or CE-004",
        )
        stats = server.limit_stats
    assert result.ret == 0, result.stdout.str()
    assert outcomes(data, "passed") == {"CC-001", "CE-004"}
    assert stats is not None and stats.refused >= 1 and stats.early == 0
    ce_004 = next(r for r in data["results"] if r["id"] == "CE-004")
    assert f"{stats.refused} 429 responses, all with Retry-After" in ce_004["message"]

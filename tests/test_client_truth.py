"""Client truth: for every reference fault that reaches a driven client, the suite's verdict for that client equals
what the client's real library did with one agent turn against the same server, pair by pair.

The suite's side is a whole battery (``conformance.engine``) over the three wire APIs; the real side is the
drivers (``conformance.clients.drivers``: one process per client over every fault, the drivers in parallel).
``works`` and ``works-with-warnings`` both mean the library worked.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest

from conformance import clients, engine
from conformance.reference.catalog import MODELS
from conformance.reference.faults import FAULTS
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from conformance.settings import Settings, Target

drivers: Any = pytest.importorskip(
    "conformance.clients.drivers", reason="this checkout has no client drivers (conformance/clients/drivers)"
)

MODEL = "reference/coder"
CLEAN = "(none)"
WAITS_OUT = {
    "endless-stream": "the stream never ends: a driver can only wait for its deadline",
    "slow-drip": "one byte a second: a driver can only wait for its deadline",
    "never-answer": "no byte ever comes: a driver can only wait for its deadline",
}
"""Faults left out of the comparison because every driver would sit out its deadline on each of them; the hostile
tests show the suite's own bounds on them."""
SAME = {"works": "works", "works-with-warnings": "works", "degraded": "degraded", "breaks": "breaks"}


def _driven() -> list[clients.Client]:
    return [c for c in clients.CLIENTS if c.name in drivers.DRIVERS]


def reaching_faults() -> list[str]:
    """The clean provider, then every fault made to break a check that speaks about a driven client."""
    driven = _driven()
    return [CLEAN] + [
        name
        for name, fault in FAULTS.items()
        if name not in WAITS_OUT and any(c.covers(cid) for cid in fault.breaks for c in driven)
    ]


def _suite_verdicts(server: ReferenceServer) -> dict[str, dict[str, Any]]:
    settings = Settings(
        Target("provider-url", server.manifest_url),
        api_key=REFERENCE_KEY,
        models_dev=f"{server.origin}/api.json",
        wire_apis=("chat", "responses", "messages", "gemini"),
        latency_samples=1,
        latency_warmup=0,
        request_timeout_s=30,
    )
    return engine.run(settings)["profiles"]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ReferenceServer]]:
    """One reference server per fault: the battery runs first, then the drivers, against the same server."""
    with ExitStack() as stack:
        yield {
            fault: stack.enter_context(
                ReferenceServer(ReferenceConfig(faults=frozenset() if fault == CLEAN else frozenset({fault})))
            )
            for fault in reaching_faults()
        }


def _detail(outcome: dict[str, Any]) -> str:
    """What the library did, in one line: the error, or what it lost."""
    if outcome.get("error"):
        return str(outcome["error"])
    lost = outcome.get("lost") or []
    return f"lost {', '.join(lost)}" if lost else ""


def _explain(verdict: dict[str, Any]) -> str:
    keys = verdict["breaks"] or verdict["degraded"] or verdict["tolerated"] + verdict["unverified"]
    return f"{verdict['verdict']} ({', '.join(keys)})" if keys else verdict["verdict"]


@pytest.fixture(scope="module")
def runnable() -> tuple[list[clients.Client], dict[str, str]]:
    """The driven clients whose driver can run here, and why each other one cannot (the test skips, saying so,
    when none can)."""
    why = {c.name: drivers.available(c.name) for c in _driven()}
    missing = {name: reason for name, reason in why.items() if reason}
    if len(missing) == len(why):
        pytest.skip("no client driver can run here: " + "; ".join(f"{n}: {r}" for n, r in missing.items()))
    return [c for c in _driven() if not why[c.name]], missing


def test_each_clients_verdict_is_what_its_real_library_did(
    runnable: tuple[list[clients.Client], dict[str, str]], servers: dict[str, ReferenceServer]
) -> None:
    driven, missing = runnable
    with ThreadPoolExecutor(max_workers=2) as pool:
        suite = dict(zip(servers, pool.map(_suite_verdicts, servers.values()), strict=True))
    coder = MODELS[MODEL]
    requests = [
        drivers.make_request(
            server.base_url,
            MODEL,
            REFERENCE_KEY,
            reasoning=bool(coder.get("reasoning")),
            max_output=int(coder["limit"]["output"]),
            tag=fault,
        )
        for fault, server in servers.items()
    ]
    real = drivers.run_all(requests, [c.name for c in driven])
    rows, disagree = [], []
    for client in driven:
        for fault, outcome in zip(servers, real[client.name], strict=True):
            verdict = suite[fault][client.name]
            row = (fault, client.name, _explain(verdict), outcome["outcome"], _detail(outcome))
            rows.append(row)
            if SAME.get(verdict["verdict"]) != outcome["outcome"]:
                disagree.append(row)
    agreed = len(rows) - len(disagree)
    table = "\n".join(f"  {f:34} {c:12} suite: {s:50} real: {r:9} {e[:100]}" for f, c, s, r, e in disagree)
    skipped = "".join(f"\n  not driven here: {name}: {why}" for name, why in missing.items())
    summary = f"{agreed} of {len(rows)} (fault, client) verdicts agree with the real libraries"
    print(f"\n{summary}{skipped}")
    assert not disagree, f"{summary}; these do not:\n{table}{skipped}"

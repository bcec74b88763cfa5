"""Client truth, fault by fault: against the clean reference provider and each of its faults, one battery over every
wire API, then one agent turn by every driven client's real library against the same server.

- The battery flags every check the fault was made to break, ends no check in an error, and carries no key.
- For each driven client the suite gives a verdict for, that verdict is what the real library did: ``works`` and
  ``works-with-warnings`` both mean the library worked. (A catalog the suite cannot read leaves every client
  ``not-applicable``: nothing to compare, so no client is driven.)

The drivers run for the whole session (``driver_processes``: one process per client, per xdist worker), so a fault
costs a turn of each library, not a start of each; a fault's item waits only for its own slowest client (retry
back-off, a deadline sat out). A rate-limit fault's server answers its first request for a reply 429, once in its
life, on whichever wire API: the battery meets it on its own server, and each client on a fresh one of its own, so
every client's reaction to a 429 is measured. The same goes for ``buffered-stream``, whose drivers' servers hold
each stream back ``DRIVER_HOLD_S`` rather than the battery's 3 s; where a client sits out its deadline
(``SITS_OUT``), the drivers' deadline is ``SITS_OUT_S``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance import clients, engine
from conformance.reference.catalog import MODELS
from conformance.reference.faults import FAULTS
from conformance.reference.server import RATE_LIMITS, REFERENCE_KEY, ReferenceConfig, ReferenceServer
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
"""Faults left out here because every driver would sit out its deadline on each of them; ``tests/test_hostile.py``
shows the suite's own bounds on them."""
DEADLINE_S = 30.0
"""A driver's step deadline (each client's own is longer: Kilo's REQUEST_TIMEOUT_MS is 120 s to 300 s)."""
SITS_OUT = frozenset({"redirect-other-origin"})
"""Faults a client meets by retrying until its deadline (Kilo: a redirect loop it follows again and again): the
drivers get ``SITS_OUT_S`` there, so the item waits a third as long for the same outcome."""
SITS_OUT_S = 10.0
"""Still far more than any step of a turn takes on a loaded machine (tens of milliseconds)."""
DRIVER_HOLD_S = 0.5
"""How long ``buffered-stream`` holds back each stream a driver asks for, on a server of its own: a client meets
the same stream sent all at once; only the wait before it, far inside every client's timeout, is shorter (the
battery's server holds 3 s, past what CS-010 judges)."""
SAME = {"works": "works", "works-with-warnings": "works", "degraded": "degraded", "breaks": "breaks"}
ENDS_AT_429 = frozenset({"codex"})
"""Clients whose turn a 429 ends, though the provider answers it as it should: Codex retries a request on 5xx and
transport errors, never on 429 (its profile's fact). A rate limit is no deviation, so no verdict can say so; here
it stays measured: on a rate-limit fault these clients break."""
DRIVEN = [c for c in clients.CLIENTS if c.name in drivers.DRIVERS]
SLOW = {
    "redirect-other-origin": f"Kilo retries the redirect loop until its deadline, {SITS_OUT_S:g} s here",
    "buffered-stream": "the battery's streams are held back 3 s each",
    "responses-no-completed": "Codex retries the stream five times, with back-off",
    "responses-silent-failure": "Codex retries the stream five times, with back-off",
    "rate-limit": "clients wait out the 429's Retry-After",
    "rate-limit-no-retry-after": "clients back off from a 429 without Retry-After",
    "responses-error-stream": "Codex retries the failed stream, with back-off",
}
"""The faults whose items wait longest, measured: run first, so that the other workers do everything else beside
them instead of waiting for them at the end."""
MEASURED = [*SLOW, CLEAN, *(name for name in FAULTS if name not in WAITS_OUT and name not in SLOW)]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ReferenceServer]:
    fault = request.param
    with ReferenceServer(ReferenceConfig(faults=frozenset() if fault == CLEAN else frozenset({fault}))) as running:
        yield running


def _battery(server: ReferenceServer) -> dict[str, Any]:
    """The whole battery over every wire API, as ``--reference-provider`` runs it, one latency sample a model: 16
    requests at once on a ``SLOW`` fault (one that holds every stream back for seconds then holds the battery back
    far less), else 4, the default (at each request httpcore looks over every idle connection of its pool: a clean
    battery takes 0.31 s of CPU at 4, 0.45 s at 16)."""
    return engine.run(
        Settings(
            Target("provider-url", server.manifest_url),
            api_key=REFERENCE_KEY,
            models_dev=f"{server.origin}/api.json",
            wire_apis=("chat", "responses", "messages", "gemini"),
            latency_samples=1,
            latency_warmup=0,
            request_timeout_s=30,
            concurrency=16 if server.config.faults & SLOW.keys() else 4,
        )
    )


def _detail(outcome: dict[str, Any]) -> str:
    """What the library did, in one line: the error, or what it lost."""
    if outcome.get("error"):
        return str(outcome["error"])
    lost = outcome.get("lost") or []
    return f"lost {', '.join(lost)}" if lost else ""


def _explain(verdict: dict[str, Any]) -> str:
    keys = verdict["breaks"] or verdict["degraded"] or verdict["tolerated"] + verdict["unverified"]
    return f"{verdict['verdict']} ({', '.join(keys)})" if keys else verdict["verdict"]


def _turn(driver: Any, server: ReferenceServer) -> dict[str, Any]:
    """One agent turn by a driver against ``server``, or against a fresh server like it: where the fault is spent
    by use (a rate limit's one 429, on whichever wire API the client speaks: every client must have met it), and
    where it holds
    streams back (``DRIVER_HOLD_S``)."""
    faults = server.config.faults
    if faults & RATE_LIMITS:
        with ReferenceServer(server.config) as own:
            outcome = _ask(driver, own)
        assert own.rate_limited, f"{driver.client} never met its server's 429"
        return outcome
    if "buffered-stream" in faults:
        with ReferenceServer(dataclasses.replace(server.config, buffered_s=DRIVER_HOLD_S)) as own:
            return _ask(driver, own)
    return _ask(driver, server)


def _ask(driver: Any, server: ReferenceServer) -> dict[str, Any]:
    """The driver's turn, with the reference model's limits, tagged with the fault."""
    coder = MODELS[MODEL]
    faults = server.config.faults
    request = drivers.make_request(
        server.base_url,
        MODEL,
        REFERENCE_KEY,
        reasoning=bool(coder.get("reasoning")),
        max_output=int(coder["limit"]["output"]),
        timeout_s=SITS_OUT_S if faults & SITS_OUT else DEADLINE_S,
        tag=",".join(sorted(faults)) or CLEAN,
    )
    return driver.ask(request)


@pytest.mark.parametrize("server", MEASURED, indirect=True)
def test_the_battery_flags_the_fault_and_each_clients_verdict_is_what_its_real_library_did(
    server: ReferenceServer, driver_processes: dict[str, Any]
) -> None:
    fault = server.config.faults
    data = _battery(server)
    flagged = {r["id"] for r in data["results"] if r["outcome"] in ("failed", "warned")}
    for name in fault:
        assert set(FAULTS[name].breaks) <= flagged, f"{name}: {sorted(set(FAULTS[name].breaks) - flagged)} not flagged"
    assert [r["id"] for r in data["results"] if r["outcome"] == "error"] == []
    assert REFERENCE_KEY not in json.dumps(data)

    runnable = [
        c.name
        for c in DRIVEN
        if drivers.available(c.name) is None and data["profiles"][c.name]["verdict"] != "not-applicable"
    ]
    with ThreadPoolExecutor(max_workers=max(1, len(runnable))) as pool:
        turns = pool.map(lambda name: _turn(driver_processes[name], server), runnable)
        real = dict(zip(runnable, turns, strict=True))
    expected = {
        name: "breaks" if fault & RATE_LIMITS and name in ENDS_AT_429 else SAME.get(data["profiles"][name]["verdict"])
        for name in real
    }
    disagree = [
        f"  {name:12} suite: {_explain(data['profiles'][name]):50} real: {outcome['outcome']:9} "
        f"{_detail(outcome)[:200]}"
        for name, outcome in real.items()
        if expected[name] != outcome["outcome"]
    ]
    assert not disagree, "the suite's verdicts and the real libraries disagree:\n" + "\n".join(disagree)


def test_every_client_with_a_driver_is_driven_here() -> None:
    """Where a driver cannot run, the comparison above leaves its client out: this says which, and why."""
    missing = {c.name: drivers.available(c.name) for c in DRIVEN if drivers.available(c.name)}
    if missing:
        pytest.skip("not driven here: " + "; ".join(f"{name}: {why}" for name, why in missing.items()))
    assert {c.name for c in DRIVEN} == set(drivers.DRIVERS)

"""The checks made for what outside suites check, where the generic fault-by-fault run cannot show them: CS-010
judging a stream by the spread of its own arrival times, not by a clock, on a stream that starts late."""

from __future__ import annotations

import pytest

from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from tests.conftest import run

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("faults", "outcome", "note"),
    [(frozenset(), "passed", "tokens over"), (frozenset({"buffered-stream"}), "warned", "")],
    ids=["streamed", "buffered"],
)
def test_cs_010_tells_a_late_stream_from_a_held_back_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, faults: frozenset[str], outcome: str, note: str
) -> None:
    monkeypatch.setenv("PROVIDER_API_KEY", REFERENCE_KEY)
    # Both wait 2.5 s for the first token, long enough to be judged; the clean one then spreads its tokens 50 ms
    # apart, the buffered one sends them all at once. Load only widens the clean spread.
    with ReferenceServer(ReferenceConfig(faults, ttft_ms=2500, token_ms=50)) as server:
        result, data = run(pytester, f"--base-url={server.base_url}", "--model=reference/mini", "-k", "CS-010")
    [found] = [r for r in data["results"] if r["id"] == "CS-010"]
    assert found["outcome"] == outcome, result.stdout.str()
    assert note in found["message"]
    if outcome == "warned":
        result.stdout.fnmatch_lines(["*all * token events arrived within * ms, after * ms of nothing*"])

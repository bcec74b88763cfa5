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


@pytest.mark.parametrize(
    ("fault", "breaks"),
    [("responses-event-fields-missing", True), ("responses-sparse-object", False)],
)
def test_what_the_openai_sdk_needs_of_a_responses_stream(fault: str, breaks: bool) -> None:
    """Why RS-006 is a MUST and RS-005/RS-009 are SHOULDs: the SDK's stream helper locates each text event by its
    output_index and raises without it, while it reads a response object that lacks the optional fields."""
    openai = pytest.importorskip("openai", reason="the openai SDK is not installed (pip install openai)")
    with ReferenceServer(ReferenceConfig(frozenset({fault}))) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=REFERENCE_KEY, max_retries=0, timeout=10)
        assert client.responses.create(model="reference/coder", input="Say hello.").output_text
        try:
            with client.responses.stream(model="reference/coder", input="Say hello.") as stream:
                text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        except RuntimeError as exc:
            assert breaks, exc
            assert "output index None" in str(exc)
        else:
            assert not breaks and text

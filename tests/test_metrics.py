"""Latency figures (``conformance.metrics``) from hand-built streams with known event times."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.client import Event, Exchange
from conformance.metrics import DEFINITIONS, Sample, figures, summary
from conformance.streaming import DONE, StreamView

URL = "https://api.acme.example/v1/chat/completions"


def chunk(usage: Any = None, *, choices: list[Any] | None = None, **delta: Any) -> str:
    data: dict[str, Any] = {"choices": choices if choices is not None else [{"index": 0, "delta": delta}]}
    if usage is not None:
        data["usage"] = usage
    return json.dumps(data)


def view_at(*timed: tuple[float, str]) -> StreamView:
    """A view of a stream whose events arrive at the given times (ms)."""
    events = [Event(at, data) for at, data in timed]
    return StreamView.of(Exchange("POST", URL, {}, status=200, events=events))


def sample_at(*timed: tuple[float, str]) -> Sample:
    return Sample.of(view_at(*timed))


# --- summary() ----------------------------------------------------------------------------------------------------


def test_summary_of_four() -> None:
    # ranks (n - 1) * p / 100 = 1.5, 2.7, 2.85, 2.97 over [1, 2, 3, 4]
    expected = {"n": 4, "mean": 2.5, "min": 1, "p50": 2.5, "p90": 3.7, "p95": 3.85, "p99": 3.97, "max": 4}
    assert summary([1, 2, 3, 4]) == expected
    assert summary([4.0, 1.0, 3.0, 2.0]) == expected
    assert list(summary([1, 2, 3, 4])) == ["n", "mean", "min", "p50", "p90", "p95", "p99", "max"]


def test_summary_of_ten() -> None:
    # ranks 4.5, 8.1, 8.55, 8.91 over [10, 20, ..., 100]
    assert summary([float(v) for v in range(100, 0, -10)]) == {
        "n": 10,
        "mean": 55.0,
        "min": 10.0,
        "p50": 55.0,
        "p90": 91.0,
        "p95": 95.5,
        "p99": 99.1,
        "max": 100.0,
    }


def test_summary_of_an_odd_count_takes_the_middle() -> None:
    figures_ = summary([5.0, 1.0, 100.0])
    assert figures_["p50"] == 5.0
    assert figures_["mean"] == pytest.approx(35.333)
    assert figures_["p90"] == pytest.approx(81.0)  # rank 1.8: 5 + 0.8 * 95


def test_summary_of_one() -> None:
    assert summary([7.25]) == {
        "n": 1,
        "mean": 7.25,
        "min": 7.25,
        "p50": 7.25,
        "p90": 7.25,
        "p95": 7.25,
        "p99": 7.25,
        "max": 7.25,
    }


def test_summary_of_none() -> None:
    assert summary([]) == {"n": 0}


def test_summary_rounds_to_three_places() -> None:
    figures_ = summary([1 / 3, 2 / 3])
    assert figures_["min"] == 0.333
    assert figures_["mean"] == 0.5
    assert figures_["max"] == 0.667


# --- Sample.of() --------------------------------------------------------------------------------------------------

REASONING_FIRST = (
    (100.0, chunk(role="assistant")),
    (150.0, chunk(reasoning_content="Let me")),
    (200.0, chunk(reasoning_content=" think")),
    (250.0, chunk(content="Hel")),
    (300.0, chunk(content="lo")),
    (350.0, chunk({"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}, choices=[])),
    (360.0, DONE),
)


def test_sample_with_usage() -> None:
    sample = sample_at(*REASONING_FIRST)
    assert sample.ttft_ms == 150.0  # the role-only chunk at 100 is not a token
    assert sample.ttfc_ms == 250.0  # the first content comes after the reasoning
    assert sample.e2e_ms == 300.0  # the usage-only chunk and [DONE] are not tokens
    assert sample.itl_ms == pytest.approx(150 / 4)  # (300 - 150) / (5 - 1)
    assert sample.tokens_per_s == pytest.approx(5 / 0.150)
    assert sample.gaps_ms == (50.0, 50.0, 50.0, 50.0, 50.0, 10.0)
    assert sample.estimated is False


def test_sample_without_usage_is_estimated_from_chunks() -> None:
    sample = sample_at(*REASONING_FIRST[:5], (360.0, DONE))
    assert sample.estimated is True
    assert sample.ttft_ms == 150.0
    assert sample.ttfc_ms == 250.0
    assert sample.e2e_ms == 300.0
    assert sample.itl_ms == pytest.approx(150 / 3)  # four token chunks
    assert sample.tokens_per_s == pytest.approx(4 / 0.150)


@pytest.mark.parametrize("usage", [{"completion_tokens": None}, {"completion_tokens": "5"}, {"total_tokens": 5}, "5"])
def test_sample_with_unusable_usage_is_estimated(usage: Any) -> None:
    sample = sample_at((10.0, chunk(content="a")), (20.0, chunk(content="b")), (30.0, chunk(usage, choices=[])))
    assert sample.estimated is True
    assert sample.itl_ms == pytest.approx(10.0)


def test_sample_uses_the_last_usage() -> None:
    sample = sample_at(
        (10.0, chunk({"completion_tokens": 1}, content="a")),
        (50.0, chunk(content="b")),
        (60.0, chunk({"completion_tokens": 11}, choices=[])),
    )
    assert sample.estimated is False
    assert sample.itl_ms == pytest.approx(4.0)  # (50 - 10) / (11 - 1)


def test_content_first_ttfc_equals_ttft() -> None:
    sample = sample_at((5.0, chunk(role="assistant")), (40.0, chunk(content="a")), (70.0, chunk(content="b")))
    assert sample.ttft_ms == sample.ttfc_ms == 40.0
    assert sample.e2e_ms == 70.0


def test_reasoning_only_has_no_ttfc() -> None:
    sample = sample_at((40.0, chunk(reasoning="hmm")), (70.0, chunk(reasoning="...")))
    assert sample.ttft_ms == 40.0
    assert sample.ttfc_ms is None


def test_tool_call_counts_as_the_first_token() -> None:
    call = [{"index": 0, "id": "t1", "function": {"name": "f", "arguments": ""}}]
    sample = sample_at((5.0, chunk(role="assistant")), (25.0, chunk(tool_calls=call)), (45.0, chunk(content="x")))
    assert sample.ttft_ms == 25.0
    assert sample.ttfc_ms == 45.0


def test_single_token_has_no_itl_or_rate() -> None:
    sample = sample_at((5.0, chunk(role="assistant")), (25.0, chunk(content="all of it")), (30.0, DONE))
    assert sample.ttft_ms == sample.e2e_ms == 25.0
    assert sample.itl_ms is None
    assert sample.tokens_per_s is None
    assert sample.estimated is True
    assert sample.gaps_ms == (20.0, 5.0)


def test_one_completion_token_has_no_itl() -> None:
    sample = sample_at(
        (10.0, chunk(content="a")), (30.0, chunk(content="b")), (40.0, chunk({"completion_tokens": 1}, choices=[]))
    )
    assert sample.itl_ms is None
    assert sample.tokens_per_s == pytest.approx(1 / 0.020)


def test_stream_without_tokens() -> None:
    sample = sample_at((5.0, chunk(role="assistant")), (9.0, chunk({"completion_tokens": 0}, choices=[])), (9.5, DONE))
    assert (sample.ttft_ms, sample.ttfc_ms, sample.e2e_ms, sample.itl_ms, sample.tokens_per_s) == (None,) * 5
    assert sample.gaps_ms == (4.0, 0.5)
    assert sample.estimated is False


def test_tokens_after_done_do_not_count() -> None:
    sample = sample_at((10.0, chunk(content="a")), (20.0, DONE), (30.0, chunk(content="late")))
    assert sample.e2e_ms == 10.0
    assert sample.gaps_ms == (10.0, 10.0)


def test_no_events() -> None:
    sample = Sample.of(StreamView.of(Exchange("POST", URL, {}, error="could not connect")))
    assert sample == Sample(None, None, None, None, None, (), False)


def test_sample_of_tokens_a_subnormal_time_apart() -> None:
    sample = sample_at((0.0, chunk(content="a")), (5e-324, chunk(content="b")))
    assert sample.e2e_ms == 5e-324


# --- figures() ----------------------------------------------------------------------------------------------------


def test_figures() -> None:
    measured = [
        sample_at(*REASONING_FIRST),
        sample_at((20.0, chunk(content="a")), (60.0, chunk(content="b"))),
    ]
    out = figures(measured, failed=2, statuses={"200": 3, "500": 2}, warmup=1)

    assert out["requests"] == {"measured": 2, "failed": 2, "warmup_excluded": 1, "statuses": {"200": 3, "500": 2}}
    assert out["ttft_ms"] == summary([150.0, 20.0])
    assert out["ttfc_ms"] == summary([250.0, 20.0])
    assert out["e2e_ms"] == summary([300.0, 60.0])
    assert out["itl_ms"] == summary([37.5, 40.0])
    assert out["tokens_per_s"]["n"] == 2
    assert out["gap_ms"] == summary([50.0, 50.0, 50.0, 50.0, 50.0, 10.0, 40.0])
    assert out["estimated"] == "output tokens counted from content chunks: the stream sent no usage"
    definitions = out["definitions"]
    for name in ("ttft_ms", "ttfc_ms", "e2e_ms", "itl_ms", "tokens_per_s", "gap_ms"):
        assert definitions[name] == DEFINITIONS[name]
    assert "fetch_ms" not in definitions


def test_figures_leave_out_what_no_sample_gave() -> None:
    reasoning_only = sample_at((40.0, chunk(reasoning="a")), (70.0, chunk(reasoning="b")))
    out = figures([reasoning_only], failed=0, statuses={"200": 1}, warmup=0)
    assert "ttfc_ms" not in out
    assert "ttfc_ms" not in out["definitions"]
    assert out["ttft_ms"]["n"] == 1
    assert "estimated" in out


def test_figures_with_usage_are_not_estimated() -> None:
    out = figures([sample_at(*REASONING_FIRST)], failed=0, statuses={"200": 1}, warmup=3)
    assert "estimated" not in out
    assert out["requests"]["warmup_excluded"] == 3


def test_figures_of_nothing_measured() -> None:
    out = figures([], failed=5, statuses={"503": 5}, warmup=1)
    assert out["requests"] == {"measured": 0, "failed": 5, "warmup_excluded": 1, "statuses": {"503": 5}}
    for name in ("ttft_ms", "ttfc_ms", "e2e_ms", "itl_ms", "tokens_per_s", "gap_ms", "estimated"):
        assert name not in out
    assert set(out["definitions"]) <= set(DEFINITIONS)
    assert not {"ttft_ms", "ttfc_ms", "e2e_ms", "itl_ms", "tokens_per_s"} & set(out["definitions"])


# --- never raises -------------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
json_values = (
    json_scalars
    | st.lists(json_scalars, max_size=3)
    | st.dictionaries(st.text(max_size=5), json_scalars | st.lists(json_scalars, max_size=2), max_size=3)
)
delta_keys = st.sampled_from(["content", "reasoning_content", "reasoning", "role", "tool_calls", "refusal"])
chunk_data = st.builds(
    lambda choices, usage, error: json.dumps(
        {"choices": choices, **({"usage": usage} if usage is not None else {}), **({"error": error} if error else {})}
    ),
    st.lists(
        st.fixed_dictionaries({"delta": st.dictionaries(delta_keys, st.text(max_size=4) | json_values, max_size=3)}),
        max_size=2,
    )
    | json_values,
    st.none() | st.fixed_dictionaries({"completion_tokens": json_values}) | json_values,
    st.booleans(),
)
# Any time a transport could report, including NaN, infinities, huge and subnormal values.
times = st.floats(min_value=-1e9, max_value=1e9) | st.sampled_from(
    [0.0, -0.0, math.nan, math.inf, -math.inf, 1e308, -1e308]
)
events = st.lists(
    st.builds(
        Event,
        times,
        st.text() | chunk_data | st.sampled_from([DONE, "", " [DONE] "]),
        st.sampled_from(["message", "error", ""]),
    ),
    max_size=8,
)


@given(events)
def test_stream_view_and_sample_never_raise(stream: list[Event]) -> None:
    view = StreamView.of(Exchange("POST", URL, {}, status=200, events=stream))
    sorted_out = len(view.chunks) + len(view.non_json) + len(view.empty) + len(view.errors) + len(view.after_done)
    assert sorted_out + (view.done_at is not None) == len(stream)
    assert isinstance(view.text(), str)
    assert isinstance(view.text("reasoning_content"), str)
    assert set(map(id, view.token_chunks)) <= set(map(id, view.chunks))
    assert set(map(id, view.usage_chunks)) <= set(map(id, view.chunks))

    sample = Sample.of(view)
    assert len(sample.gaps_ms) == max(len(stream) - 1, 0)
    if view.token_chunks:
        assert same(sample.ttft_ms, view.token_chunks[0].event.at_ms)
        assert same(sample.e2e_ms, view.token_chunks[-1].event.at_ms)
    else:
        assert sample.ttft_ms is None
        assert sample.e2e_ms is None
    assert figures([sample], failed=0, statuses={}, warmup=0)["requests"]["measured"] == 1


def same(a: float | None, b: float) -> bool:
    return a == b or (a is not None and math.isnan(a) and math.isnan(b))

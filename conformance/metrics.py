"""Latency figures as ``latency.md`` defines them, from the event times the HTTP layer recorded."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.streaming import StreamView

MAX_GAP_SAMPLES = 2000
"""Raw gaps kept for the report's distribution chart; the summary covers them all."""

DEFINITIONS = {
    "ttft_ms": "request handed to the transport -> first event carrying content, reasoning or tool calls",
    "ttfc_ms": "request handed to the transport -> first non-empty content",
    "e2e_ms": "request handed to the transport -> last token-bearing event",
    "itl_ms": "(last token - first token) / (output tokens - 1)",
    "gap_ms": "every gap between consecutive events (diagnostic)",
    "tokens_per_s": "output tokens / (E2E - TTFT)",
    "fetch_ms": "request handed to the transport -> body fully read",
}


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, mean, min, p50, p90, p95, p99 and max, percentiles by linear interpolation between ranks."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return {"n": 0}

    def percentile(p: float) -> float:
        rank = (n - 1) * p / 100
        low, high = math.floor(rank), math.ceil(rank)
        return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)

    figures = {"n": n, "mean": sum(ordered) / n, "min": ordered[0]}
    figures.update({f"p{p}": percentile(p) for p in (50, 90, 95, 99)})
    figures["max"] = ordered[-1]
    return {k: round(v, 3) for k, v in figures.items()}


@dataclass(frozen=True)
class Sample:
    """One streamed request's figures; ``None`` where the stream did not give them."""

    ttft_ms: float | None
    ttfc_ms: float | None
    e2e_ms: float | None
    itl_ms: float | None
    tokens_per_s: float | None
    gaps_ms: tuple[float, ...]
    estimated: bool
    """Output tokens were counted from chunks, the stream sent no usage."""

    @classmethod
    def of(cls, view: StreamView) -> Sample:
        tokens = view.token_chunks
        content = [c for c in view.chunks if c.delta_text("content")]
        times = [e.at_ms for e in view.exchange.events or []]
        gaps = tuple(round(b - a, 3) for a, b in itertools.pairwise(times))
        if not tokens:
            return cls(None, None, None, None, None, gaps, False)
        first, last = tokens[0].event.at_ms, tokens[-1].event.at_ms
        usage = view.usage_chunks[-1].data["usage"] if view.usage_chunks else {}
        output = usage.get("completion_tokens") if isinstance(usage, dict) else None
        estimated = not isinstance(output, int)
        if estimated:
            output = len(tokens)
        itl = (last - first) / (output - 1) if output > 1 else None
        span_s = (last - first) / 1000
        rate = output / span_s if span_s > 0 else None
        return cls(first, content[0].event.at_ms if content else None, last, itl, rate, gaps, estimated)


def figures(samples: Sequence[Sample], *, failed: int, statuses: dict[str, int], warmup: int) -> dict[str, Any]:
    """The report's figures for a set of samples, with what was left out and why."""
    out: dict[str, Any] = {}
    for name in ("ttft_ms", "ttfc_ms", "e2e_ms", "itl_ms", "tokens_per_s"):
        values = [v for v in (getattr(s, name) for s in samples) if v is not None]
        if values:
            out[name] = summary(values)
    gaps = [g for s in samples for g in s.gaps_ms]
    if gaps:
        out["gap_ms"] = summary(gaps)
    out["samples"] = {
        "ttft_ms": [round(s.ttft_ms, 3) for s in samples if s.ttft_ms is not None],
        "e2e_ms": [round(s.e2e_ms, 3) for s in samples if s.e2e_ms is not None],
        "gap_ms": gaps[:MAX_GAP_SAMPLES],
    }
    out["requests"] = {"measured": len(samples), "failed": failed, "warmup_excluded": warmup, "statuses": statuses}
    if any(s.estimated for s in samples):
        out["estimated"] = "output tokens counted from content chunks: the stream sent no usage"
    out["definitions"] = {k: v for k, v in DEFINITIONS.items() if k in out or k == "gap_ms"}
    return out

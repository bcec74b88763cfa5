"""LAT-*: how fast the provider answers, measured as ``latency.md`` defines it; budgets make it pass/fail."""

from __future__ import annotations

from conformance.catalogue import Observation, check
from conformance.findings import Finding, Severity
from conformance.live import LiveContext, NotApplicable, provider_defined_request
from conformance.metrics import Sample, figures, summary
from conformance.streaming import StreamView
from conformance.target import Subject

INFO, MUST = Severity.INFO, Severity.MUST
Said = list[Finding | Observation]


@check(
    "LAT-001",
    INFO,
    "Catalog fetch time",
    scope="endpoint",
    rationale="the client fetches the manifest and model list when the user opens its settings",
    source="latency.md (fetch time)",
    applies=lambda setup: bool(setup.target.fetch_ms or setup.target.fetch_failed),
)
async def fetch_time(subject: Subject, ctx: LiveContext) -> Said:
    ctx.metrics["LAT-001"] = {name: {"fetch_ms": round(ms, 3)} for name, ms in ctx.target.fetch_ms.items()}
    failed: Said = [
        Finding(f"the {name} request got {status}: there is no fetch time to report", fix="see MAN-001 / EXT-001")
        for name, status in ctx.target.fetch_failed.items()
    ]
    return failed or [Observation(", ".join(f"{name} {ms:.1f} ms" for name, ms in ctx.target.fetch_ms.items()))]


@check(
    "LAT-002",
    INFO,
    "Streaming latency: TTFT, TTFC, E2E, ITL, tokens/s",
    scope="live-model",
    rationale="how long a user waits for the first token and for the whole reply, over several requests",
    source="latency.md",
)
async def stream_latency(subject: Subject, ctx: LiveContext) -> Said:
    model = ctx.model(subject.name)
    options = ctx.options
    samples, statuses, failures = [], {}, 0
    for attempt in range(options.latency_warmup + options.latency_samples):
        measured = attempt - options.latency_warmup + 1
        ctx.progress(
            f"{model.id}: latency warm-up {attempt + 1}/{options.latency_warmup}"
            if measured < 1
            else f"{model.id}: latency {measured}/{options.latency_samples}"
        )
        exchange = await ctx.chat(provider_defined_request(model))
        key = str(exchange.status or "no response")
        statuses[key] = statuses.get(key, 0) + 1
        if attempt < options.latency_warmup:
            continue
        sample = Sample.of(StreamView.of(exchange)) if exchange.status == 200 and exchange.events else None
        if sample is None or sample.ttft_ms is None:
            failures += 1
        else:
            samples.append(sample)
    result = figures(samples, failed=failures, statuses=statuses, warmup=options.latency_warmup)
    ctx.metrics.setdefault("LAT-002", {})[model.id] = result
    if not samples:
        return [Finding(f"none of {options.latency_samples} streamed requests produced a token", fix="see CS-*")]
    ttft, e2e = result["ttft_ms"], result["e2e_ms"]
    return [
        Observation(
            f"TTFT p50 {ttft['p50']:.1f} ms, p95 {ttft['p95']:.1f} ms; E2E p50 {e2e['p50']:.1f} ms, "
            f"p95 {e2e['p95']:.1f} ms over {len(samples)} requests ({failures} failed, "
            f"{options.latency_warmup} warm-up excluded)"
        )
    ]


@check(
    "LAT-003",
    MUST,
    "Latency within the budgets given",
    scope="run",
    rationale="a budget (--ttft-budget-ms, --e2e-budget-ms, --fetch-budget-ms) makes p95 latency a pass/fail",
    source="latency.md (budgets compare p95)",
    applies=lambda setup: bool(
        setup.options.ttft_budget_ms or setup.options.e2e_budget_ms or setup.options.fetch_budget_ms
    ),
)
async def budgets(subject: Subject, ctx: LiveContext) -> Said:
    options = ctx.options
    wanted = {"ttft_ms": options.ttft_budget_ms, "e2e_ms": options.e2e_budget_ms}
    findings: Said = []
    for model_id, result in ctx.metrics.get("LAT-002", {}).items():
        for name, budget in wanted.items():
            p95 = result.get(name, {}).get("p95")
            if budget and p95 is not None and p95 > budget:
                findings.append(
                    Finding(
                        f"{model_id}: {name[:-3].upper()} p95 is {p95:.1f} ms",
                        expected=f"≤ {budget:g} ms",
                        fix="see LAT-002 for the full distribution",
                    )
                )
    if options.fetch_budget_ms and ctx.target.fetch_ms:
        fetch = summary(list(ctx.target.fetch_ms.values()))
        if fetch["p95"] > options.fetch_budget_ms:
            findings.append(
                Finding(
                    f"catalog fetch p95 is {fetch['p95']:.1f} ms",
                    expected=f"≤ {options.fetch_budget_ms:g} ms",
                    fix="serve the manifest and model list faster (see LAT-001)",
                )
            )
    measured = any(
        result.get(name, {}).get("p95") is not None
        for result in ctx.metrics.get("LAT-002", {}).values()
        for name, budget in wanted.items()
        if budget
    )
    if not findings and not measured and not (options.fetch_budget_ms and ctx.target.fetch_ms):
        raise NotApplicable("no figure a budget was given for was measured (see LAT-001, LAT-002)")
    return findings

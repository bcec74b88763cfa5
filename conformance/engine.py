"""A whole battery without pytest: prepare a run (start the reference provider, read the target, plan the items),
run every item, and return the JSON report. The pytest plugin is built from the same pieces (``prepare``), so a
report from here and one from ``pytest --conformance-report`` say the same thing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from conformance import clients, report, resolve, runner
from conformance.catalogue import Check
from conformance.client import Exchange, HttpSettings
from conformance.findings import Result
from conformance.live import LiveOptions, Memo
from conformance.redact import Redactor
from conformance.settings import Settings
from conformance.target import Subject


@dataclass
class Prepared:
    """One run, ready to go: its sources fetched once, its contexts built, its items planned."""

    settings: Settings
    http: HttpSettings
    resolved: resolve.Resolved
    redactor: Redactor
    plan: list[tuple[Check, Subject]]
    server: Any = None
    """The reference provider this run started (stopped by ``stop``)."""
    memo: Memo = field(default_factory=Memo)
    history: list[Exchange] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    clock: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        """The target as the report names it, without secrets."""
        sources = self.resolved.sources
        if sources.kind == "reference":
            faults = sources.where.strip()
            return "the reference provider" + (f" with faults: {faults}" if faults else "")
        return self.redactor.text(sources.where)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def run_live(
        self,
        items: list[tuple[Check, Subject]],
        *,
        progress: Callable[[str], None] | None = None,
        timings: dict[tuple[str, str], float] | None = None,
    ) -> dict[tuple[str, str], Result]:
        """Run live items on a fresh event loop, sharing this run's memo, history and metrics; ``progress`` hears
        what the run waits on, ``timings`` gets each item's own time."""
        assert self.resolved.live is not None
        return asyncio.run(
            runner.run_live(
                items,
                self.resolved.live,
                self.http,
                redactor=self.redactor,
                memo=self.memo,
                history=self.history,
                metrics=self.metrics,
                strict=self.settings.strict,
                deadline=self.clock + self.settings.run_budget_s,
                progress=progress,
                timings=timings,
            )
        )

    def report(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """The JSON report of ``entries`` (the report entries of this run's items); the latency budgets given
        travel under ``LAT-003`` so a chart can draw them."""
        given = {
            "ttft_ms": self.settings.ttft_budget_ms,
            "e2e_ms": self.settings.e2e_budget_ms,
            "fetch_ms": self.settings.fetch_budget_ms,
        }
        budgets = {name: ms for name, ms in given.items() if ms}
        metrics = {**self.metrics, "LAT-003": {"budgets": budgets}} if budgets and self.metrics else self.metrics
        return report.build(
            entries,
            target_kind=self.resolved.sources.kind,
            target_where=self.label,
            started=self.started.isoformat(timespec="seconds"),
            duration_s=time.monotonic() - self.clock,
            metrics=metrics,
            chosen=self.settings.clients,
        )


def prepare(
    run_settings: Settings,
    *,
    shipped: dict[str, Any] | None = None,
    read_stdin: Callable[[], bytes] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Prepared:
    """Read what the target names (or take the ``shipped`` sources an xdist controller read) and plan the run.
    For the reference provider target the server is started here, on the controller only. ``progress`` hears
    each fetch as it starts, its text already masked."""
    assert run_settings.target is not None
    api_key, manifest_url, models_dev, server = run_settings.api_key, None, run_settings.models_dev, None
    if run_settings.target.kind == "reference":
        from conformance.reference.faults import parse_faults
        from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer

        api_key = REFERENCE_KEY
        if shipped is None:
            server = ReferenceServer(ReferenceConfig(faults=parse_faults(run_settings.target.where))).start()
            manifest_url = server.manifest_url
            models_dev = models_dev or f"{server.origin}/api.json"
    http = HttpSettings(
        timeout_s=run_settings.request_timeout_s,
        max_body_bytes=run_settings.max_body_bytes,
        api_key=api_key,
        headers=dict(run_settings.headers),
        concurrency=run_settings.concurrency,
        retries=run_settings.retries,
        key_source=None if run_settings.target.kind == "reference" else run_settings.key_source,
    )
    redactor = Redactor([api_key, run_settings.models_dev_key, *run_settings.headers.values()])
    if http.key_source is not None:
        http.key_source.listen(redactor.add)
    say = progress or (lambda _: None)
    try:
        sources = (
            resolve.Sources.from_json(shipped)
            if shipped is not None
            else resolve.gather(
                run_settings,
                http,
                manifest_url=manifest_url,
                models_dev=models_dev,
                read_stdin=read_stdin or (lambda: b""),
                progress=lambda text: say(redactor.text(text)),
            )
        )
    except BaseException:
        if server is not None:
            server.stop()
        raise
    options = LiveOptions(
        run_settings.latency_samples,
        run_settings.latency_warmup,
        run_settings.ttft_budget_ms,
        run_settings.e2e_budget_ms,
        run_settings.fetch_budget_ms,
        run_settings.wire_apis,
        run_settings.clients,
        run_settings.api_key_env,
        run_settings.workers,
    )
    resolved = resolve.build(sources, run_settings, options)
    catalog = runner.plan(resolved.catalog) if resolved.catalog else []
    live = runner.live_plan(resolved.live, blocked=resolved.live_blocked) if resolved.live else []
    plan = catalog + live
    if run_settings.clients:
        chosen = clients.narrowed(run_settings.clients)
        plan = [(c, s) for c, s in plan if any(p.covers(c.id) for p in chosen)]
    return Prepared(run_settings, http, resolved, redactor, plan, server)


def run(run_settings: Settings) -> dict[str, Any]:
    """Run the whole battery the settings name and return the JSON report (``interface.md``)."""
    prepared = prepare(run_settings)
    try:
        live = prepared.run_live([(c, s) for c, s in prepared.plan if c.live]) if prepared.resolved.live else {}
        entries = []
        for check, subject in prepared.plan:
            if check.live:
                result = live[(check.id, subject.name)]
            else:
                assert prepared.resolved.catalog is not None
                result = runner.run(check, subject, prepared.resolved.catalog, strict=run_settings.strict)
            entries.append(prepared.redactor.data(report.entry(check, result)))
        return prepared.report(entries)
    finally:
        prepared.stop()

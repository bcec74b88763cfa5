"""A battery run inside pytest: the items, their collector, and the run's state, registered as a plugin only when
a target option is given (``conformance.plugin`` imports this module then, so an idle plugin stays cheap)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from conformance import html_report, profiles, report, resolve, runner, settings
from conformance.catalogue import Check
from conformance.client import Exchange, HttpSettings
from conformance.collection import OwnItems
from conformance.findings import Outcome, Result
from conformance.live import LiveOptions, Memo
from conformance.redact import LogMasking, Redactor
from conformance.target import Subject

PROPERTY = "conformance"
"""The ``user_properties`` key an item's report entry travels under (so it reaches an xdist controller); also
the ``workerinput`` key the controller's sources travel under."""
METRICS = "conformance-metrics"


class ConformanceWarning(UserWarning):
    """A SHOULD or INFO finding: shown in pytest's warnings summary, failing only under ``--strict``."""


class FindingFailure(Exception):
    """Raised by an item whose check failed; rendered as the finding, never as a traceback."""


def _read_stdin(config: pytest.Config, max_bytes: int) -> bytes:
    """Read stdin past pytest's capture, which replaces it while tests run."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        return sys.stdin.buffer.read(max_bytes + 1)
    finally:
        if capture is not None:
            capture.resume_global_capture()


class ConformanceRun(OwnItems):
    """One run's state, registered as a plugin only when a target is given."""

    def __init__(self, config: pytest.Config, run_settings: settings.Settings) -> None:
        assert run_settings.target is not None
        self.config = config
        self.settings = run_settings
        self.server: Any = None
        api_key, manifest_url, models_dev = run_settings.api_key, None, run_settings.models_dev
        shipped = getattr(config, "workerinput", {}).get(PROPERTY)
        if run_settings.target.kind == "reference":
            from conformance.reference.faults import parse_faults
            from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer

            api_key = REFERENCE_KEY
            if shipped is None:
                faults = parse_faults(run_settings.target.where)
                self.server = ReferenceServer(ReferenceConfig(faults=faults)).start()
                manifest_url = self.server.manifest_url
                models_dev = models_dev or f"{self.server.origin}/api.json"
        self.http = HttpSettings(
            timeout_s=run_settings.request_timeout_s,
            max_body_bytes=run_settings.max_body_bytes,
            api_key=api_key,
            headers=dict(run_settings.headers),
            concurrency=run_settings.concurrency,
            retries=run_settings.retries,
        )
        try:
            sources = (
                resolve.Sources.from_json(shipped)
                if shipped is not None
                else resolve.gather(
                    run_settings,
                    self.http,
                    manifest_url=manifest_url,
                    models_dev=models_dev,
                    read_stdin=lambda: _read_stdin(config, run_settings.max_body_bytes),
                )
            )
        except BaseException:
            self.stop_server()
            raise
        options = LiveOptions(
            run_settings.latency_samples,
            run_settings.latency_warmup,
            run_settings.ttft_budget_ms,
            run_settings.e2e_budget_ms,
            run_settings.fetch_budget_ms,
            run_settings.wire_apis,
            run_settings.api_key_env,
        )
        self.resolved = resolve.build(sources, run_settings, options)
        self.redactor = Redactor([api_key, *run_settings.headers.values()])
        self.log_masking = LogMasking(self.redactor)
        self.log_masking.install()
        catalog = runner.plan(self.resolved.catalog) if self.resolved.catalog else []
        live = runner.live_plan(self.resolved.live, blocked=self.resolved.live_blocked) if self.resolved.live else []
        chosen = profiles.narrowed(run_settings.clients)
        self.plan: list[tuple[Check, Subject]] = [
            (c, s) for c, s in catalog + live if not run_settings.clients or any(p.wants(c.id) for p in chosen)
        ]
        self.entries: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.memo = Memo()
        self.history: list[Exchange] = []
        self.live_results: dict[tuple[str, str], Result] | None = None
        self.started = datetime.now(timezone.utc)
        self.clock = time.monotonic()

    @property
    def label(self) -> str:
        sources = self.resolved.sources
        if sources.kind == "reference":
            faults = sources.where.strip()
            return "the reference provider" + (f" with faults: {faults}" if faults else "")
        return self.redactor.text(sources.where)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def pytest_unconfigure(self) -> None:
        self.stop_server()
        self.log_masking.uninstall()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker builds its items from what the controller fetched, once."""
        node.workerinput[PROPERTY] = self.resolved.sources.to_json()

    def live_result(self, check: Check, subject: Subject, session: pytest.Session) -> Result:
        """A live item's result. The first live item runs every selected live item at once, so independent
        requests overlap; an xdist worker, which does not know its share in advance, runs items one by one."""
        if self.live_results is None or (check.id, subject.name) not in self.live_results:
            if hasattr(self.config, "workerinput"):
                batch = [(check, subject)]
            else:
                batch = [(i.check, i.subject) for i in session.items if isinstance(i, ConformanceItem) and i.check.live]
            assert self.resolved.live is not None
            done = asyncio.run(
                runner.run_live(
                    batch,
                    self.resolved.live,
                    self.http,
                    redactor=self.redactor,
                    memo=self.memo,
                    history=self.history,
                    metrics=self.metrics,
                    strict=self.settings.strict,
                    deadline=self.clock + self.settings.run_budget_s,
                )
            )
            self.live_results = {**(self.live_results or {}), **done}
        return self.live_results[(check.id, subject.name)]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PROPERTY:
                self.entries.append(json.loads(value))
            elif key == METRICS:
                for check_id, figures in json.loads(value).items():
                    self.metrics.setdefault(check_id, {}).update(figures)

    def build_report(self) -> dict[str, Any]:
        return report.build(
            self.entries,
            target_kind=self.resolved.sources.kind,
            target_where=self.label,
            started=self.started.isoformat(timespec="seconds"),
            duration_s=time.monotonic() - self.clock,
            planned={check.id for check, _ in self.plan},
            metrics=self.metrics,
            clients=self.settings.clients,
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or self.config.option.collectonly:
            return
        terminalreporter.section("provider conformance")
        for line in report.summary(self.build_report()):
            red = "FAILED" in line or "ERROR" in line or ": incompatible" in line
            yellow = not red and ("WARNED" in line or "with warnings" in line)
            terminalreporter.write_line(line, red=red, yellow=yellow, green=": compatible" in line and not yellow)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        data = self.build_report()
        if self.settings.report_path:
            self.settings.report_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        if self.settings.markdown_path:
            self.settings.markdown_path.write_text(report.markdown(data), "utf-8")
        if self.settings.html_path:
            self.settings.html_path.write_text(html_report.render(data), "utf-8")
        if self.settings.badge_path:
            self.settings.badge_path.write_text(json.dumps(report.badge(data)) + "\n", "utf-8")


def _item_id(parent: pytest.Collector, check_id: str, subject: str) -> Any:
    """The item's node ID in the structured form pytest >= 9.2 parses ``conformance::ID[subject]`` into, so
    ``--lf`` and ``--deselect`` match it; older pytest builds the same string from the name by itself."""
    structured = getattr(parent, "id", None)
    return structured.child(check_id).with_params(subject) if hasattr(structured, "with_params") else None


class ConformanceCollector(pytest.Collector):
    """The parent of every conformance item, so node IDs read ``conformance::EXT-003[acme/coder-1]``."""

    def collect(self) -> list[pytest.Item]:
        run: ConformanceRun = self.config.pluginmanager.get_plugin("conformance-run")  # type: ignore[assignment]
        return [
            ConformanceItem.from_parent(
                self,
                name=f"{check.id}[{subject.name}]",
                check=check,
                subject=subject,
                nodeid=_item_id(self, check.id, subject.name),
            )
            for check, subject in run.plan
        ]


class ConformanceItem(pytest.Item):
    def __init__(self, *, check: Check, subject: Subject, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.subject = subject
        self.add_marker(check.severity.value.lower())
        self.add_marker("live" if check.live else "catalog")

    @property
    def run(self) -> ConformanceRun:
        return self.config.pluginmanager.get_plugin("conformance-run")  # type: ignore[return-value]

    def runtest(self) -> None:
        run = self.run
        if self.check.live:
            result = run.live_result(self.check, self.subject, self.session)
            figures = {
                cid: {k: v for k, v in f.items() if k == self.subject.name}
                for cid, f in run.metrics.items()
                if cid == self.check.id
            }
            if any(figures.values()):
                self.user_properties.append((METRICS, json.dumps(figures)))
        else:
            assert run.resolved.catalog is not None
            result = runner.run(self.check, self.subject, run.resolved.catalog, strict=run.settings.strict)
        self.user_properties.append((PROPERTY, json.dumps(run.redactor.data(report.entry(self.check, result)))))
        text = run.redactor.text(report.render_item(self.check, result, input_label=run.label))
        if result.outcome in (Outcome.FAILED, Outcome.ERROR):
            raise FindingFailure(text)
        if result.outcome is Outcome.WARNED:
            warnings.warn_explicit(ConformanceWarning(text), ConformanceWarning, run.label, 0)
        elif result.outcome is Outcome.SKIPPED:
            pytest.skip(run.redactor.text(result.note))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, FindingFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.check.id}[{self.subject.name}]"


# The collector is defined after the run that adds it.
ConformanceRun.collector, ConformanceRun.collector_name = ConformanceCollector, "conformance"

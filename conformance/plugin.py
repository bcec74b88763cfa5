"""The pytest plugin: options, one item per (check, subject), findings instead of tracebacks, summary, reports.

Thin by design: the engine (settings, resolve, runner, report) decides; this module only speaks pytest.
Without a target option it registers nothing beyond its options, so a user's own tests run as if it were not
installed.
"""

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
from conformance.errors import UsageError
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "provider conformance (provider-conformance)")
    add = group.addoption
    add(
        "--provider-url",
        dest="provider_url",
        metavar="URL",
        action="append",
        help="check a hosted manifest (…/v1/models?provider=true), then its endpoint",
    )
    add(
        "--provider-json",
        dest="provider_json",
        metavar="PATH",
        action="append",
        help="check embedded provider JSON from PATH ('-' reads stdin), then its endpoint unless --offline",
    )
    add(
        "--base-url",
        dest="base_url",
        metavar="URL",
        action="append",
        help="check a plain OpenAI-compatible endpoint (a full …/chat/completions URL is accepted)",
    )
    add(
        "--reference-provider",
        dest="reference_provider",
        metavar="FAULT,…",
        nargs="?",
        const="",
        action="append",
        help="start the bundled reference provider and check it; with faults, its broken variant",
    )
    add(
        "--models-dev-provider",
        dest="models_dev_provider",
        metavar="ID",
        help="with --models-dev: check only this provider of the catalog",
    )
    add(
        "--models-dev",
        dest="models_dev",
        metavar="PATH_OR_URL",
        help="validate a models.dev api.json catalog (a target of its own), or, with --provider-url, the catalog a "
        f"models_dev manifest is read from (default {settings.MODELS_DEV_URL})",
    )
    add("--offline", action="store_true", default=False, help="catalog checks only; nothing is sent over the network")
    add(
        "--api-key-env",
        dest="api_key_env",
        metavar="NAME",
        help=f"environment variable holding the API key (default {settings.DEFAULT_API_KEY_ENV})",
    )
    add(
        "--provider-header",
        dest="provider_header",
        metavar='"Name: value"',
        action="append",
        help="a header sent with every request (repeatable)",
    )
    add("--model", dest="model", metavar="ID", action="append", help="a model for the live checks (repeatable)")
    add(
        "--wire-api",
        dest="wire_api",
        metavar="API",
        action="append",
        help="the API the live checks speak: chat (default), responses, messages (repeatable)",
    )
    add(
        "--client",
        dest="client",
        metavar="PROFILE",
        action="append",
        help="narrow the run to the checks one client profile needs (repeatable): "
        + ", ".join(p.name for p in profiles.PROFILES),
    )
    add(
        "--all-models",
        dest="all_models",
        action="store_true",
        default=False,
        help="run the live checks on every catalog model (default: the first)",
    )
    add("--concurrency", dest="concurrency", metavar="N", help="requests in flight at once (default 4)")
    add("--request-timeout", dest="request_timeout", metavar="S", help="seconds per request (default 60)")
    add(
        "--retries",
        dest="retries",
        metavar="N",
        help="send a request again up to N times after a network error (default 0); findings say so",
    )
    add(
        "--run-budget-s",
        dest="run_budget_s",
        metavar="S",
        help="seconds the live battery may take in all (default 900); checks left then skip, saying so",
    )
    add("--latency-samples", dest="latency_samples", metavar="N", help="streamed requests measured (default 5)")
    add("--latency-warmup", dest="latency_warmup", metavar="N", help="requests sent first and not measured (1)")
    add("--ttft-budget-ms", dest="ttft_budget_ms", metavar="MS", help="fail when TTFT p95 is above MS")
    add("--e2e-budget-ms", dest="e2e_budget_ms", metavar="MS", help="fail when end-to-end p95 is above MS")
    add("--fetch-budget-ms", dest="fetch_budget_ms", metavar="MS", help="fail when catalog fetch p95 is above MS")
    add(
        "--max-body-mb",
        dest="max_body_mb",
        metavar="N",
        default=None,
        help=f"refuse documents and bodies larger than N MiB (default {settings.DEFAULT_MAX_BODY_MB:g})",
    )
    add("--conformance-report", dest="conformance_report", metavar="PATH", help="write the JSON report to PATH")
    add(
        "--conformance-markdown",
        dest="conformance_markdown",
        metavar="PATH",
        help="write the report as Markdown to PATH (e.g. $GITHUB_STEP_SUMMARY)",
    )
    add(
        "--conformance-html",
        dest="conformance_html",
        metavar="PATH",
        help="write the report as one self-contained HTML page to PATH",
    )
    add(
        "--conformance-badge",
        dest="conformance_badge",
        metavar="PATH",
        help="write a shields.io endpoint badge (JSON) to PATH: one profile's verdict with --client, else all",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        run_settings = settings.from_options(config.getoption, strict=bool(config.getini("strict")))
        if not run_settings.active:
            return
        session = ConformanceRun(config, run_settings)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    for severity in ("must", "should", "info"):
        config.addinivalue_line("markers", f"{severity}: conformance checks of severity {severity.upper()}")
    config.addinivalue_line("markers", "catalog: conformance checks of published catalog data (offline)")
    config.addinivalue_line("markers", "live: conformance checks that talk to the endpoint")
    config.pluginmanager.register(session, "conformance-run")


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


class ConformanceRun:
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

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        """With a target and no paths given, run the battery alone (not the project's own tests)."""
        return True if config.args_source is not pytest.Config.ArgsSource.ARGS else None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        """Add the battery to the session's top-level collectors, beside any paths given."""
        collected = yield
        if isinstance(collector, pytest.Session) and collected.passed:
            collected.result.append(
                ConformanceCollector.from_parent(collector, name="conformance", nodeid="conformance")
            )
        return collected

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

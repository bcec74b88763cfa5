"""A battery run inside pytest: the items, their collector, and the run's state, registered as a plugin only when
a target option is given (``conformance.plugin`` imports this module then, so an idle plugin stays cheap)."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from conformance import engine, html_report, report, runner, settings
from conformance.catalogue import Check
from conformance.collection import OwnItems
from conformance.findings import Outcome, Result, Severity
from conformance.redact import LogMasking
from conformance.target import Subject

PROPERTY = "conformance"
"""The ``user_properties`` key an item's report entry travels under (so it reaches an xdist controller); also
the ``workerinput`` key the controller's sources travel under."""
METRICS = "conformance-metrics"


class ConformanceWarning(UserWarning):
    """A SHOULD finding: shown in pytest's warnings summary, failing only under ``--strict``. (An INFO finding
    is a note in the conformance summary, not a warning.)"""


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


class StatusLine:
    """What a live run is waiting on, shown at the end of pytest's current line when pytest writes to a terminal
    and erased before pytest writes again: never in a log, under ``-q``, or in an xdist worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.shown = 0

    @functools.cached_property
    def reporter(self) -> Any:
        """pytest's terminal reporter, looked up when first needed (it registers after this plugin)."""
        return self.config.pluginmanager.get_plugin("terminalreporter")

    @functools.cached_property
    def on(self) -> bool:
        return bool(
            self.reporter is not None
            and self.reporter.isatty()
            and self.config.get_verbosity() >= 0
            and not hasattr(self.config, "workerinput")
        )

    def _write(self, text: str) -> None:
        """Erase what was shown, then show ``text``: on pytest's own stream, past its line-width bookkeeping."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        self.reporter.flush()
        erase = "\b" * self.shown + " " * self.shown + "\b" * self.shown
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            sys.stdout.write(erase + text)
            sys.stdout.flush()

    def __call__(self, text: str) -> None:
        if not self.on:
            return
        room = self.reporter._tw.fullwidth - self.reporter._tw.width_of_current_line - 2
        shown = f" {text}"[: max(room, 0)]
        self._write(shown)
        self.shown = len(shown)

    def clear(self) -> None:
        if self.on and self.shown:
            self._write("")
            self.shown = 0


class ConformanceRun(OwnItems):
    """One run's state, registered as a plugin only when a target is given; the run itself is the engine's
    (``engine.prepare``), so the plugin and a pytest-free run plan and report alike."""

    def __init__(self, config: pytest.Config, run_settings: settings.Settings) -> None:
        assert run_settings.target is not None
        self.config = config
        self.settings = run_settings
        self.prepared = engine.prepare(
            run_settings,
            shipped=getattr(config, "workerinput", {}).get(PROPERTY),
            read_stdin=lambda: _read_stdin(config, run_settings.max_body_bytes),
        )
        self.resolved = self.prepared.resolved
        self.redactor = self.prepared.redactor
        self.plan: list[tuple[Check, Subject]] = self.prepared.plan
        self.status = StatusLine(config)
        self.timings: dict[tuple[str, str], float] = {}
        self.log_masking = LogMasking(self.redactor)
        self.log_masking.install()
        self.entries: list[dict[str, Any]] = []
        self.live_results: dict[tuple[str, str], Result] | None = None
        self.real_client_results: tuple[str | None, dict[str, Any]] | None = None

    @property
    def label(self) -> str:
        return self.prepared.label

    @property
    def metrics(self) -> dict[str, Any]:
        return self.prepared.metrics

    def pytest_unconfigure(self) -> None:
        self.prepared.stop()
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
            try:
                done = self.prepared.run_live(
                    batch, progress=lambda text: self.status(self.redactor.text(text)), timings=self.timings
                )
            finally:
                self.status.clear()
            self.live_results = {**(self.live_results or {}), **done}
        return self.live_results[(check.id, subject.name)]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
        """A live item's duration is the time its own requests took, not the batch's its call happened to run:
        so ``--durations`` and JUnit charge the latency samples to LAT-002, not to the first live item."""
        made: pytest.TestReport = yield
        if made.when == "call" and isinstance(item, ConformanceItem) and item.check.live:
            made.duration = self.timings.get((item.check.id, item.subject.name), made.duration)
        return made

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PROPERTY:
                self.entries.append(json.loads(value))
            elif key == METRICS:
                for check_id, figures in json.loads(value).items():
                    self.metrics.setdefault(check_id, {}).update(figures)

    def real_clients(self, profiles: dict[str, Any]) -> dict[str, Any]:
        """``--real-clients``: each installed driver over the live target's first model, once per run."""
        from conformance.clients.drivers import measure

        if self.real_client_results is None:
            live = self.resolved.live
            if live is None or self.resolved.live_blocked or not live.target.models:
                why = self.resolved.live_blocked or "the run has no live endpoint and model to drive them against"
                self.real_client_results = (None, measure.not_run(f"not run: {why}"))
            else:
                model = live.target.models[0]
                results = measure.measure(
                    live.target.base_url,
                    model.id,
                    self.prepared.http.api_key or "",
                    headers={**live.target.headers, **self.prepared.http.headers},
                    reasoning=bool(model.reasoning),
                    max_output=model.max_tokens,
                    timeout_s=self.settings.request_timeout_s,
                )
                self.real_client_results = (model.id, results)
        model_id, results = self.real_client_results
        return self.redactor.data(measure.section(model_id, results, profiles))

    def build_report(self) -> dict[str, Any]:
        data = self.prepared.report(self.entries)
        if self.config.getoption("real_clients"):
            data["real_clients"] = self.real_clients(data["profiles"])
        return data

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or self.config.option.collectonly:
            return
        terminalreporter.section("provider conformance")
        data = self.build_report()
        for line in report.summary(data):
            red = "FAILED" in line or "ERROR" in line or ": breaks" in line
            yellow = not red and (
                "WARNED" in line
                or "with SHOULD warnings" in line
                or ": works with warnings" in line
                or ": degraded" in line
            )
            terminalreporter.write_line(line, red=red, yellow=yellow, green=": works" in line and not yellow)
        if "real_clients" in data:
            from conformance.clients.drivers.measure import lines

            for line in lines(data["real_clients"]):
                terminalreporter.write_line(line, red=": breaks" in line, yellow=": degraded" in line)

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
            figures = run.metrics.get(self.check.id, {})
            if self.check.scope == "live-model":  # keyed by model: this item's model only
                figures = {k: v for k, v in figures.items() if k == self.subject.name}
            if figures:
                self.user_properties.append((METRICS, json.dumps({self.check.id: figures})))
        else:
            assert run.resolved.catalog is not None
            result = runner.run(self.check, self.subject, run.resolved.catalog, strict=run.settings.strict)
        self.user_properties.append((PROPERTY, json.dumps(run.redactor.data(report.entry(self.check, result)))))
        text = run.redactor.text(report.render_item(self.check, result, input_label=run.label))
        if result.outcome in (Outcome.FAILED, Outcome.ERROR):
            raise FindingFailure(text)
        if result.outcome is Outcome.WARNED and self.check.severity is not Severity.INFO:  # a note is no warning
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

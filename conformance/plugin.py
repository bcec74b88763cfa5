"""The pytest plugin: options, one item per (check, subject), findings instead of tracebacks, summary, reports.

Thin by design: the engine (target, runner, report) decides; this module only speaks pytest. Without a target
option it registers nothing beyond its options, so a user's own test suite runs as if it were not installed.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from conformance import report, runner, settings
from conformance.catalogue import Check
from conformance.errors import UsageError
from conformance.findings import Outcome
from conformance.target import CatalogContext, Subject

PROPERTY = "conformance"
"""The ``user_properties`` key an item's report entry travels under (so it reaches an xdist controller)."""


class ConformanceWarning(UserWarning):
    """A SHOULD or INFO finding: shown in pytest's warnings summary, failing only under ``--strict``."""


class FindingFailure(Exception):
    """Raised by an item whose check failed; rendered as the finding, never as a traceback."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "provider conformance (provider-conformance)")
    group.addoption(
        "--provider-json",
        dest="provider_json",
        metavar="PATH",
        action="append",
        help="check embedded provider JSON from PATH ('-' reads stdin)",
    )
    group.addoption(
        "--offline", action="store_true", default=False, help="catalog checks only; nothing is sent over the network"
    )
    group.addoption(
        "--max-body-mb",
        dest="max_body_mb",
        metavar="N",
        default=None,
        help=f"refuse documents larger than N MiB (default {settings.DEFAULT_MAX_BODY_MB:g})",
    )
    group.addoption(
        "--conformance-report", dest="conformance_report", metavar="PATH", help="write the JSON report to PATH"
    )
    group.addoption(
        "--conformance-markdown",
        dest="conformance_markdown",
        metavar="PATH",
        help="write the report as Markdown to PATH (e.g. $GITHUB_STEP_SUMMARY)",
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
        self.target = run_settings.target
        self.input_label = "<stdin>" if self.target.is_stdin else self.target.where
        from_controller = getattr(config, "workerinput", {}).get(PROPERTY)
        if from_controller is not None:
            self.raw = from_controller
        elif self.target.is_stdin:
            self.raw = _read_stdin(config, run_settings.max_body_bytes)
        else:
            self.raw = settings.read_file("--provider-json", self.target.where, run_settings.max_body_bytes)
        self.context = CatalogContext.from_embedded(self.raw, max_bytes=run_settings.max_body_bytes)
        self.plan = runner.plan(self.context)
        self.entries: list[dict[str, Any]] = []
        self.started = datetime.now(timezone.utc)
        self.clock = time.monotonic()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker checks the bytes the controller read (stdin can be read only once)."""
        node.workerinput[PROPERTY] = self.raw

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

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PROPERTY:
                self.entries.append(json.loads(value))

    def build_report(self) -> dict[str, Any]:
        return report.build(
            self.entries,
            target_kind=self.target.kind,
            target_where=self.input_label,
            started=self.started.isoformat(timespec="seconds"),
            duration_s=time.monotonic() - self.clock,
            planned={check.id for check, _ in self.plan},
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

    @property
    def run(self) -> ConformanceRun:
        return self.config.pluginmanager.get_plugin("conformance-run")  # type: ignore[return-value]

    def runtest(self) -> None:
        run = self.run
        result = runner.run(self.check, self.subject, run.context, strict=run.settings.strict)
        self.user_properties.append((PROPERTY, json.dumps(report.entry(self.check, result))))
        text = report.render_item(self.check, result, input_label=run.input_label)
        if result.outcome in (Outcome.FAILED, Outcome.ERROR):
            raise FindingFailure(text)
        if result.outcome is Outcome.WARNED:
            warnings.warn_explicit(ConformanceWarning(text), ConformanceWarning, run.input_label, 0)
        elif result.outcome is Outcome.SKIPPED:
            pytest.skip(result.note)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, FindingFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.check.id}[{self.subject.name}]"

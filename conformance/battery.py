"""A battery run inside pytest: the items, their collector, and the run's state, registered as a plugin only when
a target option is given (``conformance.plugin`` imports this module then, so an idle plugin stays cheap)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from conformance import engine, html_report, report, runner, selection, settings
from conformance.catalogue import Check, catalogue
from conformance.collection import OwnItems
from conformance.errors import UsageError
from conformance.findings import Outcome, Result, Severity
from conformance.live import Memo
from conformance.redact import LogMasking
from conformance.target import Subject

PROPERTY = "conformance"
"""The ``user_properties`` key an xdist worker's item sends its report entries under, as one JSON list; also
the ``workerinput`` key the controller's sources travel under."""
METRICS = "conformance-metrics"
BY_SUBJECT = "conformance-by-subject"
"""The ``workerinput`` key that tells a worker every live item of a subject comes to it (``scheduling``)."""
GROUP_ABOVE = 100
"""A check with more subjects than this is one item carrying every subject's result (a catalog of 20,000 models is
8 items, not 160,000): pytest spends about half a millisecond on an item, a catalog check a few microseconds on a
subject. So is a live check in one process (a gateway's 300 models: 56 items, not 13,810, whose bookkeeping took
6 to 10 s after the last request); under xdist each live item stays one model, which ``scheduling`` sends to its
model's worker. The report keeps one entry per (check, subject), and ``-k`` still selects subjects inside the item."""
SHOWN = 10
"""Findings a grouped item prints in full; the rest are counted, and every one is in the reports."""


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


class StartupLine:
    """What the run fetches before pytest collects (the manifest, the model list, a catalog), shown on a line of
    its own and erased once fetched: pytest's reporter does not exist yet, so this writes past its capture to the
    terminal itself; never in a log, under ``-q``, or in an xdist worker (which fetches nothing)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.shown = 0

    def _write(self, text: str) -> None:
        capture = self.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            if not sys.stdout.isatty():
                return
            sys.stdout.write("\r" + " " * self.shown + "\r" + text)
            sys.stdout.flush()

    def __call__(self, text: str) -> None:
        if self.config.get_verbosity() < 0 or hasattr(self.config, "workerinput"):
            return
        shown = text[: max(shutil.get_terminal_size().columns - 1, 0)]
        self._write(shown)
        self.shown = len(shown)

    def clear(self) -> None:
        if self.shown:
            self._write("")
            self.shown = 0


class ConformanceRun(OwnItems):
    """One run's state, registered as a plugin only when a target is given; the run itself is the engine's
    (``engine.prepare``), so the plugin and a pytest-free run plan and report alike."""

    def __init__(self, config: pytest.Config, run_settings: settings.Settings) -> None:
        assert run_settings.target is not None
        run_settings = _worker_share(config, run_settings)
        self.config = config
        self.settings = run_settings
        startup = StartupLine(config)
        collecting = gc.isenabled()
        gc.disable()  # what prepare builds lives as long as the run: collecting while it grows walks it again
        try:
            self.prepared = engine.prepare(
                run_settings,
                shipped=getattr(config, "workerinput", {}).get(PROPERTY),
                read_stdin=lambda: _read_stdin(config, run_settings.max_body_bytes),
                progress=startup,
            )
        finally:
            startup.clear()
            if collecting:
                gc.enable()
        gc.freeze()
        config.add_cleanup(gc.unfreeze)
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
        self.built: tuple[int, dict[str, Any]] | None = None

    @property
    def label(self) -> str:
        return self.prepared.label

    @property
    def metrics(self) -> dict[str, Any]:
        return self.prepared.metrics

    def pytest_unconfigure(self) -> None:
        """Stop the run, and let go of its exchanges and results: pytest collects garbage as it ends (this hook
        runs before its own), and each pass walks every object still held (a gateway's 11,000 exchanges, 0.2 s)."""
        self.prepared.stop()
        self.log_masking.uninstall()
        self.prepared.history.clear()
        self.prepared.memo = Memo()
        self.entries, self.live_results, self.built = [], None, None
        self.plan = self.prepared.plan = []
        if self.resolved.catalog is not None:
            self.resolved.catalog.passes.clear()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker builds its items from what the controller fetched, once."""
        node.workerinput[PROPERTY] = self.resolved.sources.to_json()
        node.workerinput[BY_SUBJECT] = self.config.getvalue("dist") == "load"

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Under xdist's default ``load``, each live subject's items go to one worker (``scheduling``)."""
        if config.getvalue("dist") != "load":
            return None
        from conformance.scheduling import BySubject

        return BySubject(config, log, live=[c.id for c in catalogue() if c.live])

    def live_result(self, check: Check, subject: Subject, session: pytest.Session) -> Result:
        """A live item's result. The first live item runs every selected live item at once, so independent
        requests overlap; an xdist worker runs every live item of the item's subject, which all come to it (or,
        under another ``--dist``, which does not say what comes to it, the item alone)."""
        if self.live_results is None or (check.id, subject.name) not in self.live_results:
            worker = getattr(self.config, "workerinput", None)
            batch = [
                (i.check, s)
                for i in session.items
                if isinstance(i, ConformanceItem) and i.check.live
                for s in i.subjects
                if worker is None or s.name == subject.name
            ]
            if worker is not None and not worker.get(BY_SUBJECT):
                batch = [(check, subject)]
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
            own = [self.timings[key] for s in item.subjects if (key := (item.check.id, s.name)) in self.timings]
            made.duration = sum(own) if own else made.duration
        return made

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PROPERTY:
                self.entries.extend(json.loads(value))
            elif key == METRICS:
                for check_id, figures in json.loads(value).items():
                    self.metrics.setdefault(check_id, {}).update(figures)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """What is held now (the catalog, the plan, the items) lives until the session ends: out of the garbage
        collector's way until then (``gc.freeze``, undone as pytest ends), so it is not walked again with each
        collection while the items add their results. A 20,000-model catalog: 0.4 s of collections, was 1.1 s."""
        gc.freeze()

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item], config: pytest.Config) -> Any:
        """``-k`` and ``-m`` choose subjects inside a grouped item as they would choose its subjects' own items;
        the grouped items are held back from pytest's own selection, which sees one name per item."""
        held = [i for i in items if isinstance(i, ConformanceItem) and i.grouped]
        chosen = selection.Chooser.of(config) if held else None
        if chosen is None:
            return (yield)
        items[:] = [i for i in items if not (isinstance(i, ConformanceItem) and i.grouped)]
        out = yield
        kept, dropped = [], []
        for item in held:
            item.subjects = tuple(s for s in item.subjects if chosen(item.single_name(s), item.marks))
            (kept if item.subjects else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        first = next((n for n, i in enumerate(items) if isinstance(i, ConformanceItem)), len(items))
        items[first:first] = kept
        return out

    def real_clients(self, profiles: dict[str, Any]) -> dict[str, Any]:
        """``--real-clients``: each installed driver (of the ``--client`` profiles, when named) over the live
        target's first model, once per run."""
        from conformance.clients.drivers import measure

        if self.real_client_results is None:
            live = self.resolved.live
            if live is None or self.resolved.live_blocked or not live.target.models:
                why = self.resolved.live_blocked or "the run has no live endpoint and model to drive them against"
                self.real_client_results = (None, measure.not_run(f"not run: {why}", self.settings.clients))
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
                    clients=self.settings.clients,
                )
                self.real_client_results = (model.id, results)
        model_id, results = self.real_client_results
        return self.redactor.data(measure.section(model_id, results, profiles))

    def build_report(self) -> dict[str, Any]:
        """The JSON report, built once for the summary and the files alike (its verdicts read every entry)."""
        if self.built is None or self.built[0] != len(self.entries):
            data = self.prepared.report(self.entries)
            if self.config.getoption("real_clients"):
                data["real_clients"] = self.real_clients(data["profiles"])
            self.built = (len(self.entries), data)
        return self.built[1]

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
            with self.settings.report_path.open("wb") as out:
                out.writelines(report.json_lines(data))
        if self.settings.markdown_path:
            self.settings.markdown_path.write_text(report.markdown(data), "utf-8", "backslashreplace")
        if self.settings.html_path:
            self.settings.html_path.write_text(html_report.render(data), "utf-8", "backslashreplace")
        if self.settings.badge_path:
            self.settings.badge_path.write_text(json.dumps(report.badge(data)) + "\n", "utf-8")


def _worker_share(config: pytest.Config, run_settings: settings.Settings) -> settings.Settings:
    """Under xdist, each worker takes its part of ``--concurrency`` (so the provider never sees more requests in
    flight than the option says) and knows it sees only its share of the run; a live run with more workers than
    the concurrency is a usage error."""
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        from conformance.scheduling import share

        index = int(str(worker.get("workerid", "gw0")).removeprefix("gw") or 0)
        workers = int(worker.get("workercount", 1))
        part = share(run_settings.concurrency, workers, index)
        return dataclasses.replace(run_settings, concurrency=max(part, 1), workers=workers)
    workers = config.getoption("numprocesses", None) if config.getoption("dist", "no") != "no" else None
    assert run_settings.target is not None
    live = not run_settings.offline and (run_settings.target.kind != "models-dev" or bool(run_settings.api_key))
    if live and isinstance(workers, int) and workers > run_settings.concurrency:
        raise UsageError(
            f"-n {workers} starts {workers} workers, each with a request in flight: more than "
            f"--concurrency={run_settings.concurrency} allows; give -n {run_settings.concurrency} or fewer, or a "
            "larger --concurrency"
        )
    return run_settings


def _param(subject: str) -> str:
    """A subject as a node ID carries it: a lone surrogate (``"\\ud800"`` is valid JSON) escaped, since pytest
    puts node IDs in an environment variable and UTF-8 output, which refuse one."""
    return subject.encode("utf-8", "backslashreplace").decode("utf-8")


def _item_id(parent: pytest.Collector, check_id: str, subject: str) -> Any:
    """The item's node ID in the structured form pytest >= 9.2 parses ``conformance::ID[subject]`` into, so
    ``--lf`` and ``--deselect`` match it; older pytest builds the same string from the name by itself."""
    structured = getattr(parent, "id", None)
    return structured.child(check_id).with_params(subject) if hasattr(structured, "with_params") else None


class ConformanceCollector(pytest.Collector):
    """The parent of every conformance item, so node IDs read ``conformance::EXT-003[acme/coder-1]``, or
    ``conformance::EXT-003[20000 subjects]`` for a check with more than ``GROUP_ABOVE`` subjects."""

    def collect(self) -> list[pytest.Item]:
        run: ConformanceRun = self.config.pluginmanager.get_plugin("conformance-run")  # type: ignore[assignment]
        spread = hasattr(self.config, "workerinput") or self.config.getoption("dist", "no") != "no"
        by_check: dict[str, tuple[Check, list[Subject]]] = {}
        for check, subject in run.plan:
            by_check.setdefault(check.id, (check, []))[1].append(subject)
        items: list[pytest.Item] = []
        for check, subjects in by_check.values():
            grouped = len(subjects) > GROUP_ABOVE and not (check.live and spread)
            groups = [subjects] if grouped else [[s] for s in subjects]
            for group in groups:
                params = _param(group[0].name) if len(group) == 1 else f"{len(group)} subjects"
                items.append(
                    ConformanceItem.from_parent(
                        self,
                        name=f"{check.id}[{params}]",
                        check=check,
                        subjects=tuple(group),
                        nodeid=_item_id(self, check.id, params),
                    )
                )
        return items


class ConformanceItem(pytest.Item):
    """One check on one subject, or (``grouped``) on every subject of a large catalog or gateway."""

    def __init__(self, *, check: Check, subjects: tuple[Subject, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.subjects = subjects
        self.grouped = len(subjects) > 1
        self.marks = (check.severity.value.lower(), "live" if check.live else "catalog")
        for mark in self.marks:
            self.add_marker(mark)

    def single_name(self, subject: Subject) -> str:
        """The name this subject's own item would have: what ``-k`` is matched against inside a group."""
        return f"{self.check.id}[{_param(subject.name)}]"

    @property
    def run(self) -> ConformanceRun:
        return self.config.pluginmanager.get_plugin("conformance-run")  # type: ignore[return-value]

    def _results(self) -> list[Result]:
        run = self.run
        if not self.check.live:
            assert run.resolved.catalog is not None
            catalog = run.resolved.catalog
            return [runner.run(self.check, s, catalog, strict=run.settings.strict) for s in self.subjects]
        results = [run.live_result(self.check, s, self.session) for s in self.subjects]
        figures = run.metrics.get(self.check.id, {})
        if self.check.scope == "live-model":  # keyed by model: this item's models only
            names = {s.name for s in self.subjects}
            figures = {k: v for k, v in figures.items() if k in names}
        if figures:
            self.user_properties.append((METRICS, json.dumps({self.check.id: figures})))
        return results

    def _said(self, results: list[Result]) -> str:
        """The findings of ``results`` as the item prints them: the first ``SHOWN`` in full, the rest counted."""
        run = self.run
        text = "\n\n".join(report.render_item(self.check, r, input_label=run.label) for r in results[:SHOWN])
        if len(results) > SHOWN:
            text += f"\n\n… and {len(results) - SHOWN} more subjects of {self.check.id} with findings (in the reports)"
        return run.redactor.text(text)

    def runtest(self) -> None:
        run = self.run
        results = self._results()
        entries = [report.entry(self.check, r) for r in results]
        entries = run.redactor.data(entries) if run.redactor.masks else entries
        if hasattr(self.config, "workerinput"):  # to the controller, in the item's report
            self.user_properties.append((PROPERTY, json.dumps(entries)))
        else:
            run.entries.extend(entries)
        seen = {r.outcome for r in results}
        failing = seen & {Outcome.FAILED, Outcome.ERROR}
        failed = [r for r in results if r.outcome in failing] if failing else []
        if failed:
            raise FindingFailure(self._said(failed))
        warned = [r for r in results if r.outcome is Outcome.WARNED] if Outcome.WARNED in seen else []
        if warned and self.check.severity is not Severity.INFO:  # a note is no warning
            warnings.warn_explicit(ConformanceWarning(self._said(warned)), ConformanceWarning, run.label, 0)
        elif seen == {Outcome.SKIPPED}:
            more = f" (and {len(results) - 1} more subjects)" if len(results) > 1 else ""
            pytest.skip(run.redactor.text(results[0].note) + more)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, FindingFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


# The collector is defined after the run that adds it.
ConformanceRun.collector, ConformanceRun.collector_name = ConformanceCollector, "conformance"

"""The loader harness's run inside pytest: options resolved, the recording server, the items. Registered only
with ``--loader-cmd`` (``conformance.harness.plugin`` imports this module then, so an idle plugin stays cheap)."""

from __future__ import annotations

import json
import random
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance import corpus, settings
from conformance.collection import OwnItems
from conformance.errors import UsageError
from conformance.harness import cases, compare, expectations, protocol, reference
from conformance.harness.exchanges import Recorded, RecordingServer
from conformance.harness.plugin import DEFAULT_TIMEOUT_S
from conformance.resources import data_dir

RUN = "conformance-loader-run"
FIRST_REQUEST = {
    "kind": "embedded",
    "raw": json.dumps(
        [
            {
                "name": "Start-up probe",
                "website": "https://probe.example",
                "baseUrl": "https://api.probe.example/v1",
                "models_data_source": "embedded",
            },
            {"models": {"probe/one": {"id": "probe/one", "name": "Probe One", "limit": {"context": 8192}}}},
        ]
    ),
}
"""Put to the loader once before any case: a command that cannot start fails here, as one usage error, instead
of failing every case of the corpus one by one."""
PRODUCED = "loader-fields"
"""The ``user_properties`` key under which an item reports the model fields the loader produced."""
FUZZED = "loader-fuzz"


class LoaderFailure(Exception):
    """Raised by an item whose loader disagrees with the reference; rendered as the difference, not a traceback."""


@dataclass(frozen=True)
class LoaderOptions:
    argv: list[str]
    lines: bool
    timeout_s: float
    profile: str
    expectations: expectations.Expectations
    expectations_path: Path | None
    fuzz: int
    seed: int | str

    @property
    def compared(self) -> frozenset[str]:
        return compare.PROFILES[self.profile]

    @classmethod
    def from_config(cls, config: pytest.Config, case_ids: list[str]) -> LoaderOptions | None:
        """The options, ``None`` without ``--loader-cmd``, or ``UsageError`` naming the option at fault."""

        def get(dest: str) -> Any:
            return config.getoption(dest, None)

        value = get("loader_cmd")
        dependent = ("jsonl", "timeout", "profile", "expectations", "fuzz")
        if value is None:
            given = [name for name in dependent if get(f"loader_{name}")]
            if given:
                raise UsageError(f"--loader-{given[0]} needs --loader-cmd")
            return None
        battery = {**settings.TARGETS, "models_dev": "--models-dev"}  # a catalog alone is a battery target too
        targets = [option for dest, option in battery.items() if get(dest)]
        if targets:
            raise UsageError(f"--loader-cmd tests a client's loader and {targets[0]} a provider: run them separately")
        profile = get("loader_profile") or "kilo-provider-defined"
        profile = compare.ALIASES.get(profile, profile)
        if profile not in compare.PROFILES:
            raise UsageError(f"--loader-profile={profile}: the profiles are {', '.join(compare.PROFILES)}")
        if profile == "kilo-code" and get("loader_fuzz"):
            raise UsageError(
                "--loader-fuzz generates Provider Defined inputs: it does not go with --loader-profile=kilo-code"
            )
        path = Path(get("loader_expectations")) if get("loader_expectations") else None
        seed = get("hypothesis_seed")
        argv = protocol.command(value)
        lines = bool(get("loader_jsonl"))
        timeout_s = settings.positive_number("--loader-timeout", get("loader_timeout") or DEFAULT_TIMEOUT_S)
        if not config.option.collectonly and not hasattr(config, "workerinput"):
            _check_it_starts(value, argv, lines=lines, timeout_s=timeout_s, cwd=config.invocation_params.dir)
        return cls(
            argv=argv,
            lines=lines,
            timeout_s=timeout_s,
            profile=profile,
            expectations=expectations.read(path, case_ids) if path else expectations.Expectations(),
            expectations_path=path,
            fuzz=settings.count("--loader-fuzz", get("loader_fuzz"), minimum=1) if get("loader_fuzz") else 0,
            seed=seed if seed is not None else random.randrange(2**32),
        )


def _check_it_starts(value: str, argv: list[str], *, lines: bool, timeout_s: float, cwd: Path) -> None:
    """``UsageError`` when the loader cannot start: not run, or failed having printed nothing, on a first, clean
    request. A loader that answers anything at all, or hangs, is left for the cases to judge."""
    loader = protocol.LoaderCommand(argv, timeout_s=timeout_s, lines=lines, cwd=cwd)
    try:
        reply = loader.ask(FIRST_REQUEST)
    finally:
        loader.close()
    if reply.silent_failure:
        raise UsageError(
            f"--loader-cmd={value}: the loader cannot start ({reply.problem}, before answering its first "
            f"request): {_last_words(reply.stderr)}"
        )


def _last_words(stderr: str) -> str:
    """The line of a stderr tail that says what went wrong (Node ends with its version, Python with the error)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines if re.search(r"error|not found|no such|cannot|can't|no module", line, re.I)]
    return (telling or lines or ["nothing on stderr"])[-1]


class LoaderRun(OwnItems):
    """One run's state, registered as a plugin only with ``--loader-cmd``."""

    def __init__(self, config: pytest.Config, options: LoaderOptions, found: Sequence[corpus.Case]) -> None:
        self.config = config
        self.options = options
        kinds = compare.PROFILE_KINDS[options.profile]
        self.cases = [(case, cases.plan(case)) for case in found if case.input["kind"] in kinds]
        self.command = protocol.LoaderCommand(
            options.argv, timeout_s=options.timeout_s, lines=options.lines, cwd=config.invocation_params.dir
        )
        self._server: RecordingServer | None = None
        self.produced: set[str] = set()
        self.fuzzed: list[str] = []

    @property
    def server(self) -> RecordingServer:
        """The loopback server, started on first use (``--collect-only`` starts nothing)."""
        if self._server is None:
            self._server = RecordingServer().start()
        return self._server

    def pytest_unconfigure(self) -> None:
        self.command.close()
        if self._server is not None:
            self._server.stop()

    def ask(self, staged: cases.Staged) -> tuple[protocol.Reply, list[Recorded]]:
        """Put a staged request to the loader while its documents are served."""
        with self.server.serving(staged.routes) as recorded:
            reply = self.command.ask(staged.request)
        return reply, list(recorded)

    def disagreement(self, case_input: dict[str, Any], fetch: reference.Fetcher) -> tuple[str, protocol.Reply] | None:
        """How the loader's answer to a generated input differs from the reference's (and the answer), or
        ``None``."""
        plan = cases.from_input("fuzz", "a generated input", case_input, cases.Expected(True))
        staged = cases.stage(plan, self.server.ports)
        with self.server.serving(staged.routes):
            expected = cases.Expected.from_response(reference.answer(staged.request, fetch))
        reply, recorded = self.ask(staged)
        compared = self.options.compared - self.options.expectations.ignored_everywhere()
        judgement = compare.judge(
            expected, reply, recorded=recorded, exchanges=staged.exchanges, api_key=plan.api_key, compared=compared
        )
        if not judgement.problems:
            return None
        title = "the generated input (below as a corpus case, with the reference's expectation)"
        rendered = compare.render(title, staged.request, expected, reply, recorded, judgement, case_input)
        return rendered, reply

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PRODUCED:
                self.produced.update(json.loads(value))
            elif key == FUZZED:
                self.fuzzed.append(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or self.config.option.collectonly:
            return
        options = self.options
        mode = "one process, JSON Lines" if options.lines else "a process per request"
        write = terminalreporter.write_line
        terminalreporter.section("client loader harness")
        write(f"loader: {shlex.join(options.argv)} ({mode}; profile {options.profile}; {options.timeout_s:g} s)")
        fields = [f for f in compare.FIELDS if f in options.compared]
        if self.produced:
            write(f"fields it produced, so compared: {', '.join(f for f in fields if f in self.produced)}")
            never = [f for f in fields if f not in self.produced]
            if never:
                write(f"fields it never produced, so never compared: {', '.join(never)}", yellow=True)
        if options.expectations_path:
            count = len(options.expectations.divergences)
            write(f"declared divergences: {count} in {options.expectations_path}")
        for line in self.fuzzed:
            write(line)


def _relative(path: Path) -> str:
    """A case file as the corpus names it: ``fixtures/hosted/urls.json``."""
    try:
        return path.relative_to(data_dir("fixtures").parent).as_posix()
    except ValueError:
        return str(path)


class LoaderCollector(pytest.Collector):
    """The parent of every loader item, so node IDs read ``loader::embedded-strict-json/nan``."""

    def collect(self) -> list[pytest.Item]:
        run: LoaderRun = self.config.pluginmanager.get_plugin(RUN)  # type: ignore[assignment]
        items: list[pytest.Item] = [
            CaseItem.from_parent(self, name=case.id, case=case, plan=plan) for case, plan in run.cases
        ]
        if run.options.fuzz:
            items.append(FuzzItem.from_parent(self, name="fuzz"))
        return items


class _LoaderItem(pytest.Item):
    @property
    def run(self) -> LoaderRun:
        return self.config.pluginmanager.get_plugin(RUN)  # type: ignore[return-value]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, LoaderFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)


class CaseItem(_LoaderItem):
    """One corpus case put to the loader."""

    def __init__(self, *, case: corpus.Case, plan: cases.Plan | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.plan = plan
        declared = self.run.options.expectations.expected_failure(case.id)
        if declared is not None:
            self.add_marker(pytest.mark.xfail(reason=f"declared divergence: {declared.reason}", strict=True))

    def runtest(self) -> None:
        run, plan = self.run, self.plan
        if plan is None:
            pytest.skip(f"loaders are not given {self.case.input['kind']!r} inputs")
        ignored, reasons = run.options.expectations.ignored(plan.id)
        staged = cases.stage(plan, run.server.ports)
        reply, recorded = run.ask(staged)
        if reply.response is not None and reply.response["ok"]:
            produced = {key for model in reply.response["models"].values() for key in model}
            self.user_properties.append((PRODUCED, json.dumps(sorted(produced))))
        judgement = compare.judge(
            plan.expected,
            reply,
            recorded=recorded,
            exchanges=staged.exchanges,
            api_key=plan.api_key,
            compared=run.options.compared - ignored,
        )
        if judgement.problems:
            title = f"{plan.id}\nthe rule:  {plan.description}\ncase file: {_relative(self.case.file)}"
            if reasons:
                title += f"\nnot compared here ({', '.join(sorted(ignored))}): {'; '.join(reasons)}"
            rendered = compare.render(title, staged.request, plan.expected, reply, recorded, judgement, self.case.input)
            raise LoaderFailure(rendered)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.case.file, None, f"loader::{self.case.id}"


class FuzzItem(_LoaderItem):
    """Differential fuzzing: generated inputs until the loader and the reference disagree."""

    def runtest(self) -> None:
        from conformance.harness import fuzz  # hypothesis takes most of a second to import: only when fuzzing

        run = self.run
        options = run.options
        rerun = f"--hypothesis-seed={options.seed}"
        fetch = reference.Fetcher()
        try:

            def search(shrink: bool) -> dict[str, Any] | None:
                return fuzz.search(
                    lambda case_input: run.disagreement(case_input, fetch) is not None,
                    examples=options.fuzz,
                    seed=options.seed,
                    shrink=shrink,
                )

            found = search(shrink=False)
            first = run.disagreement(found, fetch) if found is not None else None
            # shrinking tries the loader hundreds of times: not when each try waits for the timeout
            shrunk = first is not None and not first[1].timed_out
            if shrunk:
                found = search(shrink=True)
            difference = run.disagreement(found, fetch) if found is not None else None
        finally:
            fetch.close()
        if found is None:
            self.user_properties.append((FUZZED, f"fuzz: {options.fuzz} generated inputs ({rerun}): no disagreement"))
            return
        self.user_properties.append((FUZZED, f"fuzz: a disagreement within {options.fuzz} generated inputs ({rerun})"))
        if difference is None:
            raise LoaderFailure(
                f"the loader disagreed with the reference on this input once, then agreed (is it deterministic?):\n"
                f"{json.dumps(found, ensure_ascii=False)}"
            )
        how = "shrunk" if shrunk else "not shrunk, as the loader answers it only with a timeout"
        case = fuzz.corpus_case(found, options.seed)
        raise LoaderFailure(
            f"the loader and the reference disagree on a generated input ({how}; {rerun} reproduces it):\n"
            f"{difference[0]}\n\n"
            f"As a corpus case, ready to commit: add it to fixtures/{found['kind']}/fuzz.json (a JSON array; create "
            f"it if needed) and raise the minor version in fixtures/VERSION:\n"
            f"{json.dumps(case, indent=2, ensure_ascii=False)}"
        )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "loader::fuzz"


# The collector is defined after the run that adds it.
LoaderRun.collector, LoaderRun.collector_name = LoaderCollector, "loader"

"""Runs checks on subjects and turns what they yield into results: the engine's one entry point."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from conformance import preflight
from conformance.catalogue import Check, Observation, catalogue
from conformance.client import Exchange, Http, HttpSettings
from conformance.findings import Finding, Outcome, Result, Severity
from conformance.live import CHARGED, LiveContext, LiveSetup, Memo, NotApplicable
from conformance.redact import Redactor
from conformance.target import CatalogContext, Subject

ITEMS_PER_SLOT = 8
"""Live items under way at once, per request slot (``--concurrency``): enough that a freed slot always has a
request waiting and that an item sending requests one after another (a conversation) starts with the rest (at 4, a
two-model battery at ``--concurrency=16`` took 0.3 s longer), few enough that the run does not build every item's
requests (a gateway's 14,000) before the first is sent, nor hold them all in memory while they wait (at 16, a
300-model gateway's peak was 280 MiB, at 8 223 MiB, at 4 186 MiB)."""


def plan(context: CatalogContext, checks: Iterable[Check] | None = None) -> list[tuple[Check, Subject]]:
    """Every (check, subject) item for ``context``, in catalogue order."""
    return [(c, s) for c in (checks or catalogue()) if not c.live for s in context.subjects(c)]


def outcome_for(severity: Severity, *, strict: bool) -> Outcome:
    """What a finding of this severity does to its item."""
    if severity is Severity.MUST or (strict and severity is Severity.SHOULD):
        return Outcome.FAILED
    return Outcome.WARNED


def _failed_prerequisite(check: Check, subject: Subject, context: CatalogContext) -> str | None:
    """The most basic check up the ``requires`` chain that has findings on ``subject``, if any."""
    passes = context.passes
    for prerequisite in check.prerequisites:
        key = (prerequisite.id, prerequisite.scope, subject.name)
        passed = passes.get(key)
        if passed is None:
            passed = passes[key] = not any(isinstance(x, Finding) for x in prerequisite.func(subject, context))
        if not passed:
            return prerequisite.id
    return None


def run(check: Check, subject: Subject, context: CatalogContext, *, strict: bool = False) -> Result:
    """Run one item. A check that raises is the suite's bug: reported as ``error``, never a traceback."""
    if subject.blocked:
        return Result(check.id, subject.name, Outcome.SKIPPED, note=subject.blocked)
    try:
        blocker = _failed_prerequisite(check, subject, context) if check.requires else None
        if blocker:
            return Result(check.id, subject.name, Outcome.SKIPPED, note=f"not checked: {blocker} must pass first")
        said = list(check.func(subject, context))
    except Exception as exc:
        return Result(
            check.id,
            subject.name,
            Outcome.ERROR,
            note=f"the suite could not run this check ({type(exc).__name__}: {exc}); please report it",
        )
    result = _result(check, subject, said, strict)
    context.passes[(check.id, check.scope, subject.name)] = not result.findings
    return result


def _result(check: Check, subject: Subject, said: list[Any], strict: bool) -> Result:
    if not said:
        return Result(check.id, subject.name, Outcome.PASSED)
    findings = tuple(x for x in said if isinstance(x, Finding))
    note = " ".join(x.text for x in said if isinstance(x, Observation)) if len(said) > len(findings) else ""
    if not findings:
        return Result(check.id, subject.name, Outcome.PASSED, note=note)
    return Result(check.id, subject.name, outcome_for(check.severity, strict=strict), findings, note)


def evaluate(context: CatalogContext, *, strict: bool = False) -> list[Result]:
    """Every applicable check on every subject of ``context``."""
    return [run(c, s, context, strict=strict) for c, s in plan(context)]


def live_plan(
    setup: LiveSetup, checks: Iterable[Check] | None = None, *, blocked: str | None = None
) -> list[tuple[Check, Subject]]:
    """Every live (check, subject) item: the endpoint once, each model tried, the run as a whole. With
    ``blocked``, every item is there but skips with that reason (``--offline``, a catalog that does not load)."""
    items = []
    for check in checks or catalogue():
        if not check.live or (check.applies and not check.applies(setup)):
            continue
        if check.wire is not None and check.wire not in setup.options.wire_apis:
            continue
        if (check.scope == "registry") != (not setup.target.base_url):
            continue  # a catalog checked live has providers, not one endpoint; an endpoint has no registry
        if check.scope == "registry":
            names, reason = list(setup.target.registry), blocked
        elif check.scope != "live-model":
            names, reason = [check.scope], blocked
        elif setup.target.models:
            names, reason = [model.id for model in setup.target.models], blocked
        else:
            names = ["models"]
            reason = blocked or setup.target.no_models or "there is no model to try (see LST-001, or give --model)"
        items += [(check, Subject(name, blocked=reason)) for name in names]
    return items


def _phase(check: Check) -> int:
    """Live checks run in three phases: the battery, then the latency samples (each model's one after another,
    so they do not queue behind the battery's own requests), then what looks back at the run."""
    if check.scope == "run":
        return 2
    return 1 if check.id.startswith("LAT-") else 0


async def _run_live(check: Check, subject: Subject, context: LiveContext, strict: bool) -> Result:
    if subject.blocked:
        return Result(check.id, subject.name, Outcome.SKIPPED, note=subject.blocked)
    if check.scope == "run" and context.options.workers > 1:
        partial = (
            f"{check.id} looks back at every request of the run, and each of the {context.options.workers} xdist "
            "workers sees only its own: run without -n for this check's verdict"
        )
        return Result(check.id, subject.name, Outcome.SKIPPED, note=partial)
    try:
        said = list(await check.func(subject, context))
    except NotApplicable as skip:
        return Result(check.id, subject.name, Outcome.SKIPPED, note=context.redactor.text(str(skip)))
    except Exception as exc:
        return Result(
            check.id,
            subject.name,
            Outcome.ERROR,
            note=context.redactor.text(
                f"the suite could not run this check ({type(exc).__name__}: {exc}); please report it"
            ),
        )
    return _result(check, subject, [_reproducible(x, context) for x in said], strict)


def _reproducible(said: Any, context: LiveContext) -> Any:
    """A finding that shows an exchange, with that exchange's request as a command to run again."""
    if not isinstance(said, Finding) or said.reproduce or said.exchange not in context.described:
        return said
    return replace(said, reproduce=context.reproduce(context.described[said.exchange]))


async def run_live(
    items: list[tuple[Check, Subject]],
    setup: LiveSetup,
    settings: HttpSettings,
    *,
    redactor: Redactor,
    memo: Memo,
    history: list[Exchange],
    metrics: dict[str, Any],
    strict: bool = False,
    deadline: float | None = None,
    progress: Callable[[str], None] | None = None,
    timings: dict[tuple[str, str], float] | None = None,
) -> dict[tuple[str, str], Result]:
    """Run live items on one event loop, concurrently (bounded by ``settings.concurrency``) within each phase:
    the battery, the latency samples (a gateway's hundreds of models side by side, each model's samples in
    sequence), then run-wide checks. Items still running at ``deadline`` (a
    ``time.monotonic()`` value: the run budget) are stopped and skip, saying so. ``progress`` hears what is
    under way; ``timings`` receives the seconds each item took itself, waits on what it shares included."""
    results: dict[tuple[str, str], Result] = {}
    say = progress or (lambda _: None)
    async with Http(settings, history=history, deadline=deadline) as http:
        context = LiveContext(setup.target, settings, setup.options, redactor, memo, http, metrics, say)
        if any(not subject.blocked for _, subject in items):
            found = await preflight.causes(context, {subject.name for _, subject in items})
            results.update(_said_once(items, found, context, strict))
            items = [(c, s) for c, s in items if (c.id, s.name) not in results]
        for phase in (0, 1, 2):
            batch = [(c, s) for c, s in items if _phase(c) == phase]
            results.update(await _within(batch, context, strict, deadline, timings))
    return results


async def _timed(
    check: Check,
    subject: Subject,
    context: LiveContext,
    strict: bool,
    counter: list[int],
    timings: dict[tuple[str, str], float] | None,
    under_way: asyncio.Semaphore,
) -> Result:
    """One item once ``under_way`` lets it start, its own time taken (for the item's duration, not the batch's),
    its end counted aloud."""
    async with under_way:
        start, charged = time.monotonic(), []
        CHARGED.set(charged)  # this item's own task: what it reads first of the preflight's requests is charged to it
        try:
            return await _run_live(check, subject, context, strict)
        finally:
            if timings is not None:
                timings[(check.id, subject.name)] = time.monotonic() - start + sum(charged)
            counter[0] += 1
            if counter[1] > 1:
                context.progress(f"live checks {counter[0]}/{counter[1]} done")


def _said_once(
    items: list[tuple[Check, Subject]], found: list[preflight.Cause], context: LiveContext, strict: bool
) -> dict[tuple[str, str], Result]:
    """The items a cause decides: its holder reports it, the items that depend on it skip naming it (also those
    blocked for want of a model: the cause is the more basic reason)."""
    decided = {}
    for check, subject in items:
        cause = next((c for c in found if c.covers(check.id, subject.name)), None)
        if cause is None:
            continue
        key = (check.id, subject.name)
        if key == cause.holder:
            finding = _reproducible(cause.finding, context)
            decided[key] = Result(*key, outcome_for(check.severity, strict=strict), (finding,))
        else:
            decided[key] = Result(*key, Outcome.SKIPPED, note=context.redactor.text(cause.note))
    return decided


async def _within(
    items: list[tuple[Check, Subject]],
    context: LiveContext,
    strict: bool,
    deadline: float | None,
    timings: dict[tuple[str, str], float] | None = None,
) -> dict[tuple[str, str], Result]:
    """Run ``items`` concurrently, at most ``ITEMS_PER_SLOT`` per request slot under way (in order), until
    ``deadline``; what has not finished by then skips."""
    counter = [0, len(items)]
    if len(items) > 1:
        context.progress(f"live checks 0/{len(items)} done")
    under_way = asyncio.Semaphore(ITEMS_PER_SLOT * max(context.settings.concurrency, 1))
    tasks = {
        (c.id, s.name): asyncio.ensure_future(_timed(c, s, context, strict, counter, timings, under_way))
        for c, s in items
    }
    if not tasks:
        return {}
    remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
    _, late = await asyncio.wait(tasks.values(), timeout=remaining)
    for task in late:
        task.cancel()
    if late:
        await asyncio.gather(*late, return_exceptions=True)
    note = "not run: the run budget (--run-budget-s) was spent"
    return {
        key: task.result() if task not in late else Result(key[0], key[1], Outcome.SKIPPED, note=note)
        for key, task in tasks.items()
    }

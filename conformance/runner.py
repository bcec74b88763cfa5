"""Runs checks on subjects and turns what they yield into results: the engine's one entry point."""

from __future__ import annotations

from collections.abc import Iterable

from conformance.catalogue import Check, Observation, catalogue, get
from conformance.findings import Finding, Outcome, Result, Severity
from conformance.target import CatalogContext, Subject


def plan(context: CatalogContext, checks: Iterable[Check] | None = None) -> list[tuple[Check, Subject]]:
    """Every (check, subject) item for ``context``, in catalogue order."""
    return [(c, s) for c in (checks or catalogue()) for s in context.subjects(c)]


def outcome_for(severity: Severity, *, strict: bool) -> Outcome:
    """What a finding of this severity does to its item."""
    if severity is Severity.MUST or (strict and severity is Severity.SHOULD):
        return Outcome.FAILED
    return Outcome.WARNED


def _failed_prerequisite(check: Check, subject: Subject, context: CatalogContext) -> str | None:
    """The most basic check up the ``requires`` chain that has findings on ``subject``, if any."""
    chain: list[Check] = []
    while check.requires:
        check = get(check.requires)
        chain.append(check)
    for prerequisite in reversed(chain):
        if any(isinstance(x, Finding) for x in prerequisite.func(subject, context)):
            return prerequisite.id
    return None


def run(check: Check, subject: Subject, context: CatalogContext, *, strict: bool = False) -> Result:
    """Run one item. A check that raises is the suite's bug: reported as ``error``, never a traceback."""
    if subject.blocked:
        return Result(check.id, subject.name, Outcome.SKIPPED, note=subject.blocked)
    try:
        blocker = _failed_prerequisite(check, subject, context)
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
    findings = tuple(x for x in said if isinstance(x, Finding))
    note = " ".join(x.text for x in said if isinstance(x, Observation))
    if not findings:
        return Result(check.id, subject.name, Outcome.PASSED, note=note)
    return Result(check.id, subject.name, outcome_for(check.severity, strict=strict), findings, note)


def evaluate(context: CatalogContext, *, strict: bool = False) -> list[Result]:
    """Every applicable check on every subject of ``context``."""
    return [run(c, s, context, strict=strict) for c, s in plan(context)]

"""What a check says: severities, outcomes, findings and the result of one (check, subject) item."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, NamedTuple


class Severity(str, enum.Enum):
    """How much a broken rule costs (``checks.md``): MUST fails the run, SHOULD warns, INFO observes."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    SKIPPED = "skipped"
    ERROR = "error"


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_UNSET: Any = _Sentinel("UNSET")
ABSENT: Any = _Sentinel("ABSENT")
"""Pass as ``Finding(found=ABSENT)`` when the problem is that a field is missing."""


def show(value: Any) -> str:
    """A value as a provider wrote it: JSON, shortened when long."""
    if value is ABSENT:
        return "nothing (the field is absent)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Finding:
    """One thing wrong in one place: what, where (a JSON pointer), expected vs found, and how to fix it."""

    message: str
    pointer: str | None = None
    expected: str | None = None
    found: Any = _UNSET
    fix: str | None = None
    exchange: str | None = None
    """For a live check: what was sent and what came back, secrets masked."""
    deviation: str | None = None
    """A short kebab name for which deviation this is, where one check covers several that clients treat
    differently (CS-002: ``chunk-without-choices`` or ``chunk-id-changes``); the client profiles key their
    reactions by ``ID:deviation``, falling back to the bare ID."""
    clients: tuple[str, ...] = ()
    """The only clients this finding speaks about (one client's own request refused); empty: every client."""
    reproduce: str | None = None
    """For a live check: the request as a command to run again (``curl``), the key as its variable."""

    @property
    def has_found(self) -> bool:
        return self.found is not _UNSET

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.expected is not None:
            out["expected"] = self.expected
        if self.has_found:
            out["found"] = show(self.found)
        if self.fix:
            out["fix"] = self.fix
        if self.exchange:
            out["exchange"] = self.exchange
        if self.clients:
            out["clients"] = list(self.clients)
        if self.reproduce:
            out["reproduce"] = self.reproduce
        return out


class Result(NamedTuple):
    """The outcome of one (check, subject) item. A named tuple, not a frozen dataclass: a catalog of 20,000
    models makes 200,000 of them, and a tuple is made in less than half the time."""

    check_id: str
    subject: str
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    note: str = ""
    """What a passing check observed (INFO mappings) or why a check was skipped."""

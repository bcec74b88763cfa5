"""A loader's declared divergences (``--loader-expectations``), like an OpenID expected-failure list.

Each entry names cases (an ID or a pattern) and a reason. Without ``fields`` the cases are expected to fail,
strictly: one that starts passing fails the run, so the list never outlives the divergence. With ``fields``
those parts are not compared. An entry that matches no case is a usage error, so a typo cannot hide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from conformance import schemas
from conformance.errors import UsageError

OPTION = "--loader-expectations"


@dataclass(frozen=True)
class Divergence:
    pattern: str
    reason: str
    fields: frozenset[str]
    """Not compared; empty when the whole case is an expected failure."""

    def matches(self, case_id: str) -> bool:
        return fnmatchcase(case_id, self.pattern)


@dataclass(frozen=True)
class Expectations:
    divergences: tuple[Divergence, ...] = ()

    def expected_failure(self, case_id: str) -> Divergence | None:
        return next((d for d in self.divergences if not d.fields and d.matches(case_id)), None)

    def ignored(self, case_id: str) -> tuple[frozenset[str], tuple[str, ...]]:
        """The parts not compared for a case, and the reasons why."""
        hits = [d for d in self.divergences if d.fields and d.matches(case_id)]
        return frozenset().union(*(d.fields for d in hits)), tuple(d.reason for d in hits)

    def ignored_everywhere(self) -> frozenset[str]:
        """The parts not compared for any input: what applies to the fuzzer, whose inputs have no ID."""
        return frozenset().union(*(d.fields for d in self.divergences if d.pattern == "*"))


def read(path: Path, case_ids: Sequence[str]) -> Expectations:
    """The expectations in ``path``, checked against the schema and the corpus, or ``UsageError``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{OPTION}={path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UsageError(f"{OPTION}={path}: not JSON ({exc})") from None
    errors = sorted(schemas.validator("loader-io", "/definitions/expectations").iter_errors(data), key=str)
    if errors:
        where = "/".join(map(str, errors[0].absolute_path))
        raise UsageError(f"{OPTION}={path}: {errors[0].message}" + (f" (at /{where})" if where else ""))
    divergences = tuple(Divergence(d["case"], d["reason"], frozenset(d.get("fields", ()))) for d in data["divergences"])
    for index, divergence in enumerate(divergences):
        if not any(divergence.matches(case_id) for case_id in case_ids):
            raise UsageError(f"{OPTION}={path}: divergence {index} ({divergence.pattern!r}) matches no corpus case")
    return Expectations(divergences)

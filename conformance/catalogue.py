"""The one list of checks: each a small registered function with its ID, severity, title, rationale, source.

A check function takes ``(subject, context)`` and yields ``Finding``s (nothing means it passed) and, where it
observed something worth saying on a pass, ``Observation``s. ``scope`` says what its subjects are, so the
runner and the pytest plugin can make one item per (check, subject).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from conformance.findings import Finding, Severity

CATALOG_SCOPES = ("embedded", "manifest", "extended", "model", "pair", "models-dev", "documents")
"""``embedded``: the pasted document; ``manifest``; ``extended``: the model list as a whole; ``model``: each
model entry; ``pair``: the embedded and hosted forms of one provider together; ``models-dev``: the provider in
the models.dev catalog a manifest names; ``documents``: every document of the target at once."""
LIVE_SCOPES = ("endpoint", "live-model", "run", "registry")
"""``endpoint``: the API once; ``live-model``: each model tried; ``run``: the whole run, after the rest (checks
that look at every exchange, budgets); ``registry``: each provider of a models.dev catalog, at its own ``api``."""
SCOPES = CATALOG_SCOPES + LIVE_SCOPES

GROUPS = ("MAN", "EXT", "EMB", "JSON", "MDV", "LST", "CC", "CS", "CT", "CX", "CV", "IM", "CE", "LAT", "RS", "AN", "GG")
"""Catalogue order: the order of ``checks.md``."""
_CHECK_MODULES = (
    "conformance.checks.manifest",
    "conformance.checks.extended",
    "conformance.checks.embedded",
    "conformance.checks.models_dev",
    "conformance.checks.endpoint",
    "conformance.checks.chat",
    "conformance.checks.clients",
    "conformance.checks.stream",
    "conformance.checks.tools",
    "conformance.checks.conversation",
    "conformance.checks.quirks",
    "conformance.checks.latency",
    "conformance.checks.wire_apis",
    "conformance.checks.gemini",
    "conformance.checks.peers",
    "conformance.checks.context",
)
WIRE_APIS = {"RS": "responses", "AN": "messages", "GG": "gemini", "LST": None, "MDV": None}
"""The wire API a live check's group speaks (``None``: any); every other live group speaks ``chat``."""
_ID = re.compile(r"^([A-Z]+)-(\d{3})$")


@dataclass(frozen=True)
class Observation:
    """What a passing check saw and wants reported (the client's view of a model, say)."""

    text: str


CheckFunc = Callable[[Any, Any], Iterable[Finding | Observation]]


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title: str
    rationale: str
    source: str
    scope: str
    func: CheckFunc
    requires: str | None = None
    """A check of the same scope whose findings on a subject make this one meaningless there (it is skipped,
    pointing at that check): the structural check before the detailed ones."""
    applies: Callable[[Any], bool] | None = None
    """Whether the check means anything for a given context at all; no items are made where it does not."""

    @property
    def live(self) -> bool:
        """Whether the check talks to the endpoint (its function is a coroutine function)."""
        return self.scope in LIVE_SCOPES

    @property
    def wire(self) -> str | None:
        """The wire API this live check needs (``--wire-api``), or ``None`` when it needs none in particular."""
        if not self.live:
            return None
        return WIRE_APIS.get(self.id.split("-")[0], "chat")

    @cached_property
    def prerequisites(self) -> tuple[Check, ...]:
        """The ``requires`` chain, the most basic check first: the order the runner asks them in."""
        chain: list[Check] = []
        check = self
        while check.requires:
            check = get(check.requires)
            chain.append(check)
        return tuple(reversed(chain))

    @property
    def sort_key(self) -> tuple[int, int]:
        group, number = _ID.match(self.id).groups()  # type: ignore[union-attr]
        return GROUPS.index(group), int(number)


_REGISTRY: dict[str, Check] = {}


def check(
    id: str,
    severity: Severity,
    title: str,
    *,
    scope: str,
    rationale: str,
    source: str,
    requires: str | None = None,
    applies: Callable[[Any], bool] | None = None,
) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as check ``id``.

    An ID belongs to one function: another function claiming it is a bug. The same function registering
    again (its module re-imported) replaces its entry.
    """
    match = _ID.match(id)
    if not match or match.group(1) not in GROUPS:
        raise ValueError(f"check ID {id!r} is not of the form GROUP-NNN with GROUP one of {GROUPS}")
    if scope not in SCOPES:
        raise ValueError(f"check {id}: unknown scope {scope!r}")

    def register(func: CheckFunc) -> CheckFunc:
        known = _REGISTRY.get(id)
        if known and (known.func.__module__, known.func.__qualname__) != (func.__module__, func.__qualname__):
            raise ValueError(f"check {id} is registered twice ({known.func.__qualname__}, {func.__qualname__})")
        _ORDERED.clear()
        _REGISTRY[id] = Check(id, severity, title, rationale, source, scope, func, requires, applies)
        return func

    return register


_ORDERED: list[tuple[Check, ...]] = []
"""The sorted catalogue, computed once (and again only after a registration)."""


def catalogue() -> tuple[Check, ...]:
    """Every check, in catalogue order."""
    if not _ORDERED:
        for module in _CHECK_MODULES:
            importlib.import_module(module)
        _ORDERED.append(tuple(sorted(_REGISTRY.values(), key=lambda c: c.sort_key)))
    return _ORDERED[0]


def get(check_id: str) -> Check:
    """The check with this ID (``KeyError`` if there is none)."""
    if check_id not in _REGISTRY:
        catalogue()
    return _REGISTRY[check_id]

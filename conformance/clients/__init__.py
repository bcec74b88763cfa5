"""Client profiles: models of the real, named clients (``data``), and the verdict each gets from a run's report
(``verdict``). ``checks.md`` §4 and ``clients.md`` say what a profile is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.clients.data import CLIENTS
from conformance.clients.model import UNVERIFIED, Client, Reaction, Request
from conformance.clients.verdict import VERDICTS, Verdict, ran, verdict, verdict_of_ran

NAMES = tuple(c.name for c in CLIENTS)
BY_NAME = {c.name: c for c in CLIENTS}

__all__ = ["BY_NAME", "CLIENTS", "NAMES", "VERDICTS", "Client", "Reaction", "Request", "Verdict", "verdict"]


def narrowed(names: Iterable[str]) -> tuple[Client, ...]:
    """The profiles named (all of them when none is), in catalogue order."""
    chosen = set(names)
    return tuple(c for c in CLIENTS if not chosen or c.name in chosen)


def _by_effect(check_id: str, key: str, only: Iterable[str]) -> dict[str, list[str]]:
    restricted = set(only)
    out: dict[str, list[str]] = {}
    for client in CLIENTS:
        if client.covers(check_id) and (not restricted or client.name in restricted):
            out.setdefault(client.effect(key), []).append(client.name)
    return out


def effects(check_id: str, key: str, only: Iterable[str] = ()) -> dict[str, list[str]]:
    """Which profiled clients a finding (deviation ``key`` of check ``check_id``, restricted to ``only`` when
    given) breaks and which it degrades."""
    found = _by_effect(check_id, key, only)
    return {"breaks": found.get("breaks", []), "degrades": found.get("degraded", [])}


def says(check_id: str, key: str, only: Iterable[str] = ()) -> str:
    """One line on what a finding does to the profiled clients, for the terminal and the reports."""
    found = _by_effect(check_id, key, only)
    parts = [
        f"{label} {', '.join(found[effect])}"
        for effect, label in (("breaks", "breaks"), ("degraded", "degrades"))
        if found.get(effect)
    ]
    if parts:
        return "; ".join(parts)
    if not found:
        return "spec deviation; no profiled client reads this"
    if set(found) == {"unaffected"}:
        return "spec deviation; every profiled client tolerates it"
    return f"spec deviation; no profiled client is known to break (unverified for {', '.join(found[UNVERIFIED])})"


def verdicts(entries: Iterable[Mapping[str, Any]], names: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Each chosen profile's verdict, as the JSON report holds it, from the report's result entries alone."""
    by_check = ran(entries)
    return {c.name: verdict_of_ran(c, by_check).to_json(c) for c in narrowed(names)}

"""A verdict per client, derived from the report's result entries alone (so an xdist controller, or anyone holding
the JSON report, computes the same one): ``breaks`` if a finding breaks the client, else ``degraded``, else
``works-with-warnings`` (findings it tolerates, or whose effect on it is unverified), else ``works``;
``not-applicable`` when none of its checks ran. Severity plays no part: it is the spec's word, not the client's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.clients.model import UNVERIFIED, Client, matches

VERDICTS = ("works", "works-with-warnings", "degraded", "breaks", "not-applicable")
_BY_EFFECT = {"breaks": "breaks", "degraded": "degraded", "unaffected": "tolerated", UNVERIFIED: "unverified"}


@dataclass(frozen=True)
class Verdict:
    verdict: str
    breaks: tuple[str, ...] = ()
    """Deviation keys that break the client."""
    degraded: tuple[str, ...] = ()
    tolerated: tuple[str, ...] = ()
    """Deviation keys the client is known not to notice (spec deviations, still reported by their checks)."""
    unverified: tuple[str, ...] = ()
    """Deviation keys whose effect on this client nobody has measured."""
    failed: tuple[str, ...] = ()
    """Check IDs of this client's checks that failed (a failed check may still be tolerated)."""
    warned: tuple[str, ...] = ()

    def to_json(self, client: Client) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "client": client.client,
            "library": client.library,
            "wire_api": client.wire,
            "released": client.released,
            "breaks": list(self.breaks),
            "degraded": list(self.degraded),
            "tolerated": list(self.tolerated),
            "unverified": list(self.unverified),
            "failed": list(self.failed),
            "warned": list(self.warned),
        }
        if client.note:
            out["note"] = client.note
        return out


def finding_key(entry: Mapping[str, Any], finding: Mapping[str, Any]) -> str:
    """A finding's deviation key as the report carries it (its check ID when it has no deviation)."""
    return str(finding.get("key") or entry["id"])


def touches(client: Client, entry: Mapping[str, Any], finding: Mapping[str, Any]) -> bool:
    """Whether a finding of this entry speaks about ``client`` (a finding restricted to some clients, such as
    one client's own request being refused, speaks about those only)."""
    only = finding.get("clients")
    return client.covers(entry["id"]) and (not only or client.name in only)


def ran(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The entries that ran (not skipped), by check ID: what every client's verdict reads, grouped once so a
    catalog of 20,000 models asks each client about each check once, not about each entry."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if entry["outcome"] != "skipped":
            grouped.setdefault(entry["id"], []).append(entry)
    return grouped


def verdict(client: Client, entries: Iterable[Mapping[str, Any]]) -> Verdict:
    """The client's verdict from report entries (``{"id", "outcome", "findings": [{"key", "clients"}]}``)."""
    return verdict_of_ran(client, ran(entries))


def verdict_of_ran(client: Client, by_check: Mapping[str, list[Mapping[str, Any]]]) -> Verdict:
    """The client's verdict from the entries that ran, grouped by ``ran``."""
    covered = [check_id for check_id in by_check if client.covers(check_id)]
    seen: dict[str, list[str]] = {name: [] for name in _BY_EFFECT.values()}
    spoken: dict[str, set[str]] = {"failed": set(), "warned": set()}
    for entry in (e for check_id in covered for e in by_check[check_id] if e["outcome"] != "passed"):
        if entry["outcome"] == "error":
            seen["unverified"].append(entry["id"])
            spoken["failed"].add(entry["id"])
        for finding in entry.get("findings", ()):
            if touches(client, entry, finding):
                key = finding_key(entry, finding)
                seen[_BY_EFFECT[client.effect(key)]].append(key)
                spoken.setdefault(entry["outcome"], set()).add(entry["id"])
    keys = {name: tuple(sorted(set(found))) for name, found in seen.items()}
    applies = any(matches(i, client.applies_when or client.looks_at) for i in covered)
    if not applies and not any(keys.values()):
        return Verdict("not-applicable")
    failed = tuple(sorted(spoken["failed"]))
    warned = tuple(sorted(spoken["warned"] - spoken["failed"]))
    if keys["breaks"]:
        name = "breaks"
    elif keys["degraded"]:
        name = "degraded"
    elif keys["tolerated"] or keys["unverified"]:
        name = "works-with-warnings"
    else:
        name = "works"
    return Verdict(name, keys["breaks"], keys["degraded"], keys["tolerated"], keys["unverified"], failed, warned)

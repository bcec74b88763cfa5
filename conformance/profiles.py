"""Client profiles: the checks one client needs to pass, and the verdict for each client (``checks.md`` §4)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

VERDICTS = ("compatible", "compatible-with-warnings", "incompatible", "not-applicable")


@dataclass(frozen=True)
class Profile:
    name: str
    does: str
    """What the client does, as facts."""
    needs: tuple[str, ...]
    """Check IDs or ``fnmatch`` patterns (``EXT-*``, ``MDV-00[4]``) that must pass for this client; a check the
    profile names outright counts as "not run" when it produced no result, a pattern only for what it matched."""
    applies_when: tuple[str, ...] = ()
    """Patterns of which at least one check must have run for the verdict to mean anything (the Provider
    Defined client needs a catalog: a plain base URL says nothing about it)."""

    def wants(self, check_id: str) -> bool:
        return any(fnmatch.fnmatchcase(check_id, pattern) for pattern in self.needs)


PROFILES = (
    Profile(
        "kilo-provider-defined",
        "loads the manifest, embedded JSON or models.dev entry; chats with stream:true, include_usage and "
        "max_tokens from the catalog; reads delta.content and the last usage",
        (
            "MAN-*",
            "EXT-*",
            "EMB-*",
            "JSON-*",
            "MDV-00[12356]",
            "LST-001",
            "CC-005",
            "CS-001",
            "CS-002",
            "CS-003",
            "CS-004",
            "CS-005",
            "CS-006",
            "CS-008",
        ),
        applies_when=("MAN-*", "EMB-*", "MDV-*"),
    ),
    Profile(
        "openai-compatible",
        "base URL and key; /models auto-detect reads data[].id; sends stream_options and tools with strict; "
        "reads reasoning_content and tool calls by index",
        ("LST-001", "CC-*", "CS-*", "CT-*", "CX-001", "CE-*"),
        applies_when=("CC-*", "CS-*"),
    ),
    Profile(
        "kimi-cli",
        "openai type: streams by default with include_usage, reads reasoning_content, splits tool calls on a "
        "repeated name; a custom registry is a models.dev api.json",
        ("LST-001", "CS-*", "CT-002", "CT-003", "CX-001", "MDV-*"),
        applies_when=("CS-*", "MDV-*"),
    ),
    Profile(
        "codex",
        "speaks only the Responses API (wire_api = responses) and needs response.completed; keeps only "
        "tool-calling, text-output models in its catalog",
        ("RS-*", "MDV-00[4]"),
    ),
)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    failed: tuple[str, ...]
    warned: tuple[str, ...]
    not_run: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "failed": list(self.failed),
            "warned": list(self.warned),
            "not_run": list(self.not_run),
        }


def _explicit(profile: Profile) -> Iterable[str]:
    return (p for p in profile.needs if not any(ch in p for ch in "*?["))


def narrowed(names: Iterable[str]) -> tuple[Profile, ...]:
    """The profiles named (all of them when none is)."""
    chosen = set(names)
    return tuple(p for p in PROFILES if not chosen or p.name in chosen)


def verdicts(
    outcomes: Mapping[str, Iterable[str]], planned: Iterable[str], profiles: Iterable[Profile] = PROFILES
) -> dict[str, Verdict]:
    """Each profile's verdict from the outcomes per check ID (``{"EXT-003": ["passed", "failed"]}``).

    ``planned`` are the IDs that applied to the target (had items, selected or not). A check of the profile
    that applied, or that the profile names outright, and produced no result other than a skip (deselected,
    blocked, or live while the run was offline) is listed under ``not_run``.
    """
    known = set(planned)
    out: dict[str, Verdict] = {}
    for profile in profiles:
        relevant = {cid: list(o) for cid, o in outcomes.items() if profile.wants(cid)}
        failed = tuple(sorted(cid for cid, o in relevant.items() if "failed" in o or "error" in o))
        warned = tuple(sorted(cid for cid, o in relevant.items() if "warned" in o and cid not in failed))
        ran = [cid for cid, o in relevant.items() if set(o) - {"skipped"}]
        if profile.applies_when and not any(fnmatch.fnmatchcase(cid, p) for cid in ran for p in profile.applies_when):
            ran = []
        wanted = {cid for cid in known if profile.wants(cid)} | set(_explicit(profile))
        not_run = tuple(sorted(wanted - set(ran)))
        if not ran:
            verdict = "not-applicable"
        elif failed:
            verdict = "incompatible"
        elif warned:
            verdict = "compatible-with-warnings"
        else:
            verdict = "compatible"
        out[profile.name] = Verdict(verdict, failed, warned, not_run)
    return out

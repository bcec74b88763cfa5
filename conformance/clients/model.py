"""What a client profile is: a model of one real, named client, as data with a source for every fact.

A profile says which checks speak about the client (``looks_at``), what it sends (its own requests, which the
live battery replays), and how its real library reacts to each kind of deviation (``reactions``), keyed by
deviation key: a check ID, or ``ID:deviation`` where one check covers deviations that clients treat differently.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

EFFECTS = ("breaks", "degraded", "unaffected")
"""How a client reacts to a deviation: it fails the turn, it silently loses text, usage, reasoning or a tool
call, or it does not notice."""
UNVERIFIED = "unverified"
"""The effect of a deviation no one has measured or read for this client: a warning, never works, never breaks."""


@cache
def matches(check_id: str, patterns: tuple[str, ...]) -> bool:
    """Whether a check ID matches one of the ``fnmatch`` patterns: asked once per (check, subject) entry of a
    report, so a catalog of 20,000 models asks it about a hundred thousand times, for a few distinct answers."""
    return any(fnmatch.fnmatchcase(check_id, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Fact:
    """One thing known about a client, and where it was read or measured."""

    text: str
    source: str


@dataclass(frozen=True)
class Reaction:
    """What a deviation does to a client, and where that was measured or read."""

    effect: str
    source: str

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(f"unknown effect {self.effect!r}; expected one of {EFFECTS}")


@dataclass(frozen=True)
class Request:
    """One chat request a client sends, as fields: the live battery builds the body from this (CC-008)."""

    label: str
    """What the request is in the client's life ("agent turn", "compaction request")."""
    source: str
    tools: str = "none"
    """``none`` (no ``tools`` field), ``empty`` (``tools: []``), ``plain`` or ``strict`` (``strict: true``)."""
    temperature: float | None = None
    max_tokens: str | None = None
    """``None``: never sent; ``output``: ``limit.output``; ``output-or-context``: ``limit.output ?? limit.context``;
    ``output-capped-32000``: ``min(limit.output, 32000)``."""
    include_usage: bool = True
    parallel_tool_calls: bool | None = None
    tool_choice: str | None = None


@dataclass(frozen=True)
class Client:
    """A model of one real client."""

    name: str
    client: str
    """The real client, as its users know it."""
    library: str
    """The library that parses the wire, with the version the reactions were measured with."""
    wire: str
    """``chat``, ``responses``, ``messages`` or ``catalog``: what the client speaks to the provider."""
    released: bool
    looks_at: tuple[str, ...]
    """Check IDs or ``fnmatch`` patterns whose findings can touch this client."""
    sends: tuple[Fact, ...]
    reactions: Mapping[str, Reaction]
    requests: tuple[Request, ...] = ()
    """The chat requests the live battery replays as this client (CC-008)."""
    applies_when: tuple[str, ...] = ()
    """Patterns of which a check must have run for the verdict to mean anything (the Provider Defined loader
    needs a catalog; a plain base URL says nothing about it). Empty: any check it looks at."""
    note: str = field(default="")
    """Shown wherever the profile is: ``unreleased PR loader`` for one that no user runs."""

    def covers(self, check_id: str) -> bool:
        """Whether findings of this check can touch this client."""
        return matches(check_id, self.looks_at)

    def reaction(self, key: str) -> Reaction | None:
        """The reaction to a deviation key: ``ID:deviation`` first, then the bare ``ID``; ``None`` if unknown."""
        return self.reactions.get(key) or self.reactions.get(key.split(":", 1)[0])

    def effect(self, key: str) -> str:
        reaction = self.reaction(key)
        return reaction.effect if reaction else UNVERIFIED

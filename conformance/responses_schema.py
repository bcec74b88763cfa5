"""Responses API bodies and events against the suite's own schema (``schemas/responses-api.schema.json``, written
from the Open Responses specification): the reasons one does not fit, each naming where, ready for a finding."""

from __future__ import annotations

from functools import cache
from typing import Any

from conformance import schemas

SCHEMA = "responses-api"
SHOWN = 8
"""Reasons reported per body or event; the rest are counted."""


def _problems(instance: Any, definition: str) -> list[str]:
    """Each reason as ``where: what``; the required properties missing at one place make one reason."""
    missing: dict[str, list[str]] = {}
    reasons = []
    for error in schemas.validator(SCHEMA, f"/definitions/{definition}").iter_errors(instance):
        where = ".".join(map(str, error.absolute_path)) or "(root)"
        if error.validator == "required":
            missing.setdefault(where, []).append(error.message.split("'")[1])
        else:
            reasons.append(f"{where}: {error.message}")
    reasons = sorted(f"{where} lacks {', '.join(sorted(names))}" for where, names in missing.items()) + sorted(reasons)
    hidden = len(reasons) - SHOWN
    return reasons[:SHOWN] + ([f"… and {hidden} more"] if hidden > 0 else [])


def response_problems(body: Any) -> list[str]:
    """Why a response object (non-streamed body, or the response of a lifecycle event) is not a Response."""
    return _problems(body, "Response")


def compact_problems(body: Any) -> list[str]:
    """Why a ``POST /responses/compact`` body is not the specification's compacted response."""
    return _problems(body, "CompactResponse")


@cache
def _events() -> dict[str, str]:
    """Event type to definition, read once: this is asked for every streamed event."""
    events: dict[str, str] = schemas.load(SCHEMA)["x-events"]
    return events


def event_definition(kind: Any) -> str | None:
    """The schema definition of a streamed event type, or ``None`` for a type the specification does not list
    (clients skip those, so they are reported, not judged)."""
    return _events().get(kind) if isinstance(kind, str) else None


def event_problems(data: Any) -> list[str]:
    """Why a streamed event's data is not the event its ``type`` names (nothing for an unlisted type)."""
    definition = event_definition(data.get("type") if isinstance(data, dict) else None)
    return _problems(data, definition) if definition else []

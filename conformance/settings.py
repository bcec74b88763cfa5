"""One frozen settings object per run, from the command line; bad values raise ``UsageError`` naming the option."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import UsageError

TARGETS = {"provider_json": "--provider-json"}
"""Target options by their pytest ``dest``; exactly one per run."""
DEFAULT_MAX_BODY_MB = 32.0


@dataclass(frozen=True)
class Target:
    kind: str
    """The report's target kind: ``provider-json`` …"""
    where: str
    """The file or URL as the user gave it (no secrets)."""

    @property
    def is_stdin(self) -> bool:
        return self.where == "-"


@dataclass(frozen=True)
class Settings:
    target: Target | None
    offline: bool = False
    strict: bool = False
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1048576)
    report_path: Path | None = None
    markdown_path: Path | None = None

    @property
    def active(self) -> bool:
        """Whether the plugin has anything to do: without a target it stays out of the way."""
        return self.target is not None


def positive_number(option: str, value: Any) -> float:
    """``value`` as a finite number > 0, or a usage error naming ``option``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{option} expects a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise UsageError(f"{option} must be a positive number, got {value!r}")
    return number


def from_options(get: Callable[[str], Any], *, strict: bool) -> Settings:
    """Settings from option values (``get(dest)``, a list for each target option, which may be repeated by
    mistake); ``strict`` is pytest's own ``--strict``."""
    given = [(dest, value) for dest in TARGETS for value in get(dest) or ()]
    if len(given) > 1:
        names = " and ".join(TARGETS[dest] for dest, _ in given)
        raise UsageError(f"give one target per run, not {names}")
    target = None
    if given:
        dest, where = given[0]
        if not str(where).strip():
            raise UsageError(f"{TARGETS[dest]} needs a value")
        target = Target(TARGETS[dest].removeprefix("--"), str(where))
    max_mb = positive_number("--max-body-mb", get("max_body_mb") or DEFAULT_MAX_BODY_MB)
    report, markdown = get("conformance_report"), get("conformance_markdown")
    return Settings(
        target=target,
        offline=bool(get("offline")),
        strict=strict,
        max_body_bytes=int(max_mb * 1048576),
        report_path=Path(report) if report else None,
        markdown_path=Path(markdown) if markdown else None,
    )


def read_file(option: str, path: str, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of ``path`` (one more than the cap, so the reader can say it is over)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return handle.read(max_bytes + 1)
    except IsADirectoryError:
        raise UsageError(f"{option}={path}: is a directory; give the JSON file") from None
    except FileNotFoundError:
        raise UsageError(f"{option}={path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{option}={path}: cannot read it ({exc.strerror or exc})") from None

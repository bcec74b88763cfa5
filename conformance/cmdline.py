"""Unrecognized command-line options, said without their values: a key typed as ``--api-key=sk-…`` must not be
echoed into a CI log by the very error that refuses it, and a typo gets a "did you mean"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "bearer", "credential", "cookie")
"""An unknown option whose name holds one of these words is taken to carry a secret."""


def _name(arg: str) -> str:
    return arg.partition("=")[0]


def carries_secret(option: str) -> bool:
    """Whether an option's name says it would carry a secret (``--api-key``, ``--token``, ``--auth-header``)."""
    name = _name(option).lstrip("-").lower()
    return any(word in name for word in SECRET_WORDS)


def unknown_options_error(
    unknown: Sequence[str], known: Iterable[str], *, key_env: str, listed_by: str = "pytest --help"
) -> str | None:
    """The one-message usage error for the unrecognized options in ``unknown`` (raw arguments), naming each
    option without its value, or ``None`` when none is an option."""
    names = list(dict.fromkeys(_name(arg) for arg in unknown if arg.startswith("-") and arg != "-"))
    if not names:
        return None
    longs = sorted({option for option in known if option.startswith("--")})
    lines = []
    for name in names:
        close = difflib.get_close_matches(name, longs, n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]}?" if close else ""
        if carries_secret(name):
            lines.append(
                f"{name}: secrets are never taken from the command line, where shell history and CI logs keep "
                f"them; put the key in the environment (export {key_env}=…), or name another variable with "
                f"--api-key-env=NAME{hint}"
            )
        else:
            lines.append(f"unrecognized option {name}{hint or f' ({listed_by} lists the options)'}")
    return "\n".join(lines)

"""The ``provider-conformance`` command: ``checks`` lists the catalogue, ``check TARGET`` runs the battery."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import pytest

from conformance import __version__
from conformance.catalogue import catalogue


def list_checks() -> int:
    """Print the catalogue: ID, severity, title and source, one check per line."""
    rows = [(c.id, c.severity.value, c.title, c.source) for c in catalogue()]
    width = max(len(r[2]) for r in rows)
    for check_id, severity, title, source in rows:
        print(f"{check_id:<9} {severity:<7} {title:<{width}}  {source}")
    return 0


def run_check(target: str, pytest_args: Sequence[str]) -> int:
    """Run the battery on ``target`` (a file of embedded JSON, or ``-`` for stdin) with extra pytest args."""
    return int(pytest.main([f"--provider-json={target}", *pytest_args]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="provider-conformance",
        description="Does an LLM API provider work with coding-agent clients?",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("checks", help="list the check catalogue")
    run = commands.add_parser(
        "check",
        help="run the battery on TARGET; further arguments go to pytest",
        description="Run the battery on TARGET (a file of embedded provider JSON, or - for stdin). "
        "Arguments after TARGET are passed to pytest, e.g. --offline, -k EXT, --conformance-report=r.json.",
    )
    run.add_argument("target", help="embedded provider JSON file, or - for stdin")
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "checks":
            if rest:
                parser.error(f"unrecognized arguments: {' '.join(rest)}")
            return list_checks()
        return run_check(args.target, rest)
    except BrokenPipeError:  # the reader (``| head``) has gone: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

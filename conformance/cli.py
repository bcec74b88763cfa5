"""The ``provider-conformance`` command: ``checks`` lists the catalogue, ``check TARGET`` runs the battery,
``serve`` runs the reference provider, ``clients`` installs and lists the real-client drivers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import pytest

from conformance import __version__
from conformance.catalogue import catalogue
from conformance.errors import UsageError


def list_checks() -> int:
    """Print the catalogue: ID, severity, title and source, one check per line."""
    rows = [(c.id, c.severity.value, c.title, c.source) for c in catalogue()]
    width = max(len(r[2]) for r in rows)
    for check_id, severity, title, source in rows:
        print(f"{check_id:<9} {severity:<7} {title:<{width}}  {source}")
    return 0


def target_option(target: str) -> str:
    """The pytest option for TARGET: ``reference[:FAULT,…]``, a manifest URL, another URL, or a file."""
    if target == "reference" or target.startswith("reference:"):
        return f"--reference-provider={target.partition(':')[2]}"
    if target.startswith(("http://", "https://")):
        return f"--provider-url={target}" if "provider=true" in target else f"--base-url={target}"
    return f"--provider-json={target}"


def serve(faults: str, port: int, ttft_ms: float, token_ms: float) -> int:
    from conformance.reference.faults import parse_faults
    from conformance.reference.server import ReferenceConfig
    from conformance.reference.server import serve as run_server

    try:
        config = ReferenceConfig(faults=parse_faults(faults), ttft_ms=ttft_ms, token_ms=token_ms)
    except UsageError as exc:
        print(f"provider-conformance serve: {exc}", file=sys.stderr)
        return 2
    try:
        run_server(config, port=port)
    except OSError as exc:
        print(f"provider-conformance serve: cannot listen on port {port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def clients(action: str, directory: str | None) -> int:
    """``clients install``: set up the drivers' runtimes; ``clients list``: each client, its library, installed?"""
    from pathlib import Path

    from conformance.clients import drivers

    where = Path(directory).expanduser() if directory else drivers.home()
    if action == "install":
        from conformance.clients.drivers.install import install

        outcomes = install(where)
        for outcome in outcomes:
            print(f"{outcome.runtime}: {'ok' if outcome.ok else 'FAILED'}: {outcome.message}")
        return 0 if all(o.ok for o in outcomes) else 1
    width = max(len(name) for name in drivers.DRIVERS)
    label_width = max(len(d.label) for d in drivers.DRIVERS.values())
    for name, driver in drivers.DRIVERS.items():
        reason = drivers.available(name, where)
        state = "installed" if reason is None else f"not installed: {reason}"
        print(f"{name:<{width}}  {driver.runtime:<6}  {driver.label:<{label_width}}  {state}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 4, as pytest's are."""

    def error(self, message: str) -> NoReturn:
        self.exit(4, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="provider-conformance",
        description="Does an LLM API provider work with coding-agent clients?",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("checks", help="list the check catalogue")
    run = commands.add_parser(
        "check",
        help="run the battery on TARGET; further arguments go to pytest",
        description="Run the battery on TARGET: a manifest URL (…?provider=true), a base URL, a file of embedded "
        "provider JSON (- for stdin), or 'reference' / 'reference:FAULT,…' for the bundled reference provider. "
        "Arguments after TARGET go to pytest, e.g. --offline, -k CS-, --conformance-report=r.json.",
    )
    run.add_argument("target")
    server = commands.add_parser("serve", help="run the reference provider until Ctrl+C")
    server.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch a fault on (repeatable, or comma-separated)",
    )
    server.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0 picks one)")
    server.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first token")
    server.add_argument("--token-ms", type=float, default=0.0, help="delay between streamed tokens")
    real = commands.add_parser("clients", help="install or list the drivers of the real client libraries")
    real.add_argument("action", choices=("install", "list"))
    real.add_argument(
        "--dir",
        metavar="DIR",
        help="where the drivers' dependencies go (default $PROVIDER_CONFORMANCE_CLIENTS, else a user cache dir)",
    )
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command != "check" and rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "checks":
            return list_checks()
        if args.command == "serve":
            return serve(",".join(args.fault), args.port, args.ttft_ms, args.token_ms)
        if args.command == "clients":
            return clients(args.action, args.dir)
        return int(pytest.main([target_option(args.target), *rest]))
    except BrokenPipeError:  # the reader (``| head``) has gone: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``provider-conformance`` command: ``checks`` lists the catalogue, ``check TARGET`` runs the battery,
``serve`` runs the reference provider, ``paths`` says where the packaged examples, corpus and schemas are,
``clients`` installs and lists the real-client drivers."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

import pytest

from conformance import __version__, cmdline, settings
from conformance.catalogue import catalogue
from conformance.errors import UsageError

MAX_WIDTH = 100
"""``checks`` lines stay within the terminal, and within this even on a wide one, to stay readable."""


def list_checks(form: str = "text", width: int | None = None) -> int:
    """Print the catalogue: a table (ID, severity, title, each with its rationale and source below it), or JSON."""
    checks = catalogue()
    if form == "json":
        rows = [
            {
                "id": c.id,
                "severity": c.severity.value,
                "title": c.title,
                "rationale": c.rationale,
                "source": c.source,
                "kind": "live" if c.live else "catalog",
            }
            for c in checks
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    width = min(width or shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH)
    indent = " " * 19
    print(f"{'ID':<9} {'SEVERITY':<8} TITLE, why, source")
    for c in checks:
        wrap = textwrap.TextWrapper(width=max(width, 40), subsequent_indent=indent, break_on_hyphens=False)
        print(wrap.fill(f"{c.id:<9} {c.severity.value:<8} {c.title}"))
        wrap.initial_indent = indent
        print(wrap.fill(f"why: {c.rationale}"))
        print(wrap.fill(f"source: {c.source}"))
    return 0


DATA = {
    "examples": ("examples", ""),
    "loaders": ("examples", "loaders"),
    "fixtures": ("fixtures", ""),
    "schemas": ("schemas", ""),
}
"""What ``paths`` names: the example catalogs, the example loaders, the fixture corpus, the JSON Schemas."""


def data_paths(which: str | None) -> int:
    """Print where the packaged data is (one path alone when named), so a wheel user can reach the examples."""
    from conformance.resources import data_dir

    found = {name: data_dir(folder) / sub for name, (folder, sub) in DATA.items()}
    if which:
        print(found[which])
    else:
        for name, path in found.items():
            print(f"{name + ':':<10} {path}")
    return 0


def target_option(target: str) -> str:
    """The pytest option for TARGET: ``reference[:FAULT,…]``, a manifest URL, another URL, or a file."""
    if target == "reference" or target.startswith("reference:"):
        return f"--reference-provider={target.partition(':')[2]}"
    if target.startswith(("http://", "https://")):
        return f"--provider-url={target}" if "provider=true" in target else f"--base-url={target}"
    return f"--provider-json={target}"


def serve(args: argparse.Namespace) -> int:
    from conformance.reference.faults import parse_faults
    from conformance.reference.server import ReferenceConfig
    from conformance.reference.server import serve as run_server

    port = args.port
    try:
        config = ReferenceConfig(
            faults=parse_faults(",".join(args.fault)),
            ttft_ms=args.ttft_ms,
            token_ms=args.token_ms,
            models=args.models,
            max_in_flight=args.max_in_flight,
            retry_after_s=args.retry_after,
        )
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


def _at_least_one(text: str) -> int:
    """A whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    listing = commands.add_parser("checks", help="list the check catalogue")
    listing.add_argument(
        "--format", choices=("text", "json"), default="text", help="a table for people (default) or JSON"
    )
    where = commands.add_parser(
        "paths",
        help="print where the packaged examples, example loaders, fixture corpus and schemas are",
        description="Print where the packaged data is; with a name, that path alone, for use in a shell: "
        'pytest --offline --provider-json="$(provider-conformance paths examples)/acme-broken-embedded.json"',
    )
    where.add_argument("which", nargs="?", choices=tuple(DATA), help="print only this path")
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
    server.add_argument(
        "--models", type=_at_least_one, default=2, metavar="N", help="serve N models, as a gateway does (default 2)"
    )
    server.add_argument(
        "--max-in-flight",
        type=_at_least_one,
        metavar="N",
        help="a rate limit: requests beyond N in flight get 429 with Retry-After (default: no limit)",
    )
    server.add_argument(
        "--retry-after", type=float, default=1.0, metavar="S", help="the wait a 429 names, in seconds (default 1)"
    )
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
            known = {"checks": listing, "serve": server, "paths": where, "clients": real}[
                args.command
            ]._option_string_actions
            parser.error(
                cmdline.unknown_options_error(
                    rest, known, key_env=settings.DEFAULT_API_KEY_ENV, listed_by=f"{args.command} --help"
                )
                or f"unexpected arguments after {args.command}"
            )
        if args.command == "checks":
            return list_checks(args.format)
        if args.command == "paths":
            return data_paths(args.which)
        if args.command == "serve":
            return serve(args)
        if args.command == "clients":
            return clients(args.action, args.dir)
        return int(pytest.main([target_option(args.target), *rest]))
    except BrokenPipeError:  # the reader (``| head``) has gone: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

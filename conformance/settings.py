"""One frozen settings object per run, from the command line and the environment; bad values raise
``UsageError`` naming the option."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import urls
from conformance.clients import NAMES as CLIENT_NAMES
from conformance.errors import UsageError
from conformance.keycmd import DEFAULT_REFRESH_S, DEFAULT_TIMEOUT_S, KeyCommand, KeySource

TARGETS = {
    "provider_url": "--provider-url",
    "provider_json": "--provider-json",
    "base_url": "--base-url",
    "reference_provider": "--reference-provider",
}
"""Target options by their pytest ``dest``; exactly one per run."""
DEFAULT_MAX_BODY_MB = 32.0
DEFAULT_API_KEY_ENV = "PROVIDER_API_KEY"
MODELS_DEV_URL = "https://models.dev/api.json"
"""Where a ``models_dev`` manifest's models are read from unless ``--models-dev`` names another catalog."""


@dataclass(frozen=True)
class Target:
    kind: str
    """The report's target kind: ``provider-url``, ``provider-json``, ``base-url``, ``models-dev`` or
    ``reference``."""
    where: str
    """The file or URL as the user gave it (no secrets), or the reference provider's faults."""

    @property
    def is_stdin(self) -> bool:
        return self.kind == "provider-json" and self.where == "-"


@dataclass(frozen=True)
class Settings:
    target: Target | None
    offline: bool = False
    strict: bool = False
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1048576)
    report_path: Path | None = None
    markdown_path: Path | None = None
    html_path: Path | None = None
    badge_path: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    key_source: KeySource | None = field(default=None, repr=False, compare=False)
    """``--api-key-cmd``: the command the key comes from (``api_key`` is then its first token)."""
    models_dev_key: str | None = field(default=None, repr=False)
    """``--models-dev-key-env``: the bearer token of a private registry, sent only to the registry's origin."""
    api_key_env: str = DEFAULT_API_KEY_ENV
    """``--api-key-env``: the variable the key is read from (named in findings, never its value)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    all_models: bool = False
    concurrency: int = 4
    workers: int = 1
    """How many processes share the run (xdist workers): each sees only its own share of the requests."""
    retries: int = 0
    request_timeout_s: float = 60.0
    run_budget_s: float = 900.0
    latency_samples: int = 5
    latency_warmup: int = 1
    ttft_budget_ms: float | None = None
    e2e_budget_ms: float | None = None
    fetch_budget_ms: float | None = None
    models_dev: str | None = None
    """``--models-dev``: a catalog (path or URL) to validate, or the one a ``models_dev`` manifest is read from."""
    models_dev_provider: str | None = None
    """``--models-dev-provider``: the one provider of a ``--models-dev`` catalog to check."""
    wire_apis: tuple[str, ...] = ("chat",)
    """``--wire-api``: which APIs the live checks speak."""
    clients: tuple[str, ...] = ()
    """``--client``: the profiles the run is narrowed to (all when empty)."""

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


def count(option: str, value: Any, *, minimum: int) -> int:
    """``value`` as a whole number ≥ ``minimum``, or a usage error naming ``option``."""
    try:
        number = int(str(value))
    except ValueError:
        raise UsageError(f"{option} expects a whole number, got {value!r}") from None
    if number < minimum:
        raise UsageError(f"{option} must be at least {minimum}, got {value!r}")
    return number


def header(value: str) -> tuple[str, str]:
    """``"Name: value"`` as a pair, or a usage error."""
    name, sep, text = value.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise UsageError(f'--provider-header expects "Name: value", got {value!r}')
    return name.strip(), text.strip()


def _optional(option: str, value: Any) -> float | None:
    return None if value is None else positive_number(option, value)


def from_options(get: Callable[[str], Any], *, strict: bool, environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from option values (``get(dest)``; each target option is a list, as it may be repeated by
    mistake) and the environment; ``strict`` is pytest's own ``--strict``."""
    given = [(dest, value) for dest in TARGETS for value in get(dest) or ()]
    if len(given) > 1:
        names = " and ".join(TARGETS[dest] for dest, _ in given)
        raise UsageError(f"give one target per run, not {names}")
    target = None
    if given:
        dest, where = given[0]
        option = TARGETS[dest]
        if dest != "reference_provider" and not str(where).strip():
            raise UsageError(f"{option} needs a value")
        if dest in ("provider_url", "base_url"):
            problem = urls.url_problem(where)
            if problem:
                raise UsageError(f"{option}={where}: not a usable URL: {problem}")
        kind = "reference" if dest == "reference_provider" else option.removeprefix("--")
        target = Target(kind, str(where))
    models_dev = get("models_dev")
    provider_id = get("models_dev_provider")
    if models_dev and target is None:
        target = Target("models-dev", models_dev)
    elif models_dev and target.kind not in ("provider-url", "reference"):
        raise UsageError(
            f"--models-dev with {target.kind}: it is a target of its own, or the catalog a "
            "--provider-url manifest with models_data_source 'models_dev' is read from"
        )
    if provider_id and (target is None or target.kind != "models-dev"):
        raise UsageError("--models-dev-provider narrows a --models-dev catalog to one provider; give --models-dev")
    offline = bool(get("offline"))
    remote = target is not None and (
        target.kind in ("provider-url", "base-url", "reference")
        or (target.kind == "models-dev" and target.where.startswith(("http://", "https://")))
    )
    if offline and remote:
        raise UsageError(
            f"--offline sends nothing over the network, so {target.kind} {target.where} has nothing to check; "
            "use --provider-json or a --models-dev file for offline checks"
        )
    key_source = _key_source(get)
    key_env = get("api_key_env") or DEFAULT_API_KEY_ENV
    report, markdown = get("conformance_report"), get("conformance_markdown")
    budgets = {
        name: _optional(f"--{name.replace('_', '-')}", get(name))
        for name in ("ttft_budget_ms", "e2e_budget_ms", "fetch_budget_ms")
    }
    return Settings(
        target=target,
        offline=offline,
        strict=strict,
        max_body_bytes=int(positive_number("--max-body-mb", get("max_body_mb") or DEFAULT_MAX_BODY_MB) * 1048576),
        report_path=Path(report) if report else None,
        markdown_path=Path(markdown) if markdown else None,
        html_path=Path(get("conformance_html")) if get("conformance_html") else None,
        badge_path=Path(get("conformance_badge")) if get("conformance_badge") else None,
        api_key=key_source.token() if key_source else environ.get(key_env) or None,
        key_source=key_source,
        models_dev_key=_models_dev_key(get, models_dev, environ),
        api_key_env=key_env,
        headers=dict(header(h) for h in get("provider_header") or ()),
        models=tuple(get("model") or ()),
        all_models=bool(get("all_models")),
        concurrency=count("--concurrency", get("concurrency") or 4, minimum=1),
        retries=count("--retries", get("retries") or 0, minimum=0),
        run_budget_s=positive_number("--run-budget-s", get("run_budget_s") or 900),
        request_timeout_s=positive_number("--request-timeout", get("request_timeout") or 60),
        latency_samples=count(
            "--latency-samples", 5 if get("latency_samples") is None else get("latency_samples"), minimum=1
        ),
        latency_warmup=count(
            "--latency-warmup", 1 if get("latency_warmup") is None else get("latency_warmup"), minimum=0
        ),
        models_dev=models_dev or None,
        models_dev_provider=provider_id or None,
        clients=_clients(get("client") or ()),
        wire_apis=_wire_apis(get("wire_api") or ("chat",)),
        **budgets,
    )


WIRE_APIS = ("chat", "responses", "messages", "gemini")


def _key_source(get: Callable[[str], Any]) -> KeySource | None:
    """``--api-key-cmd`` with its timeout and refresh, run once now so that a broken command is a usage error
    before anything is sent."""
    command, timeout, refresh = get("api_key_cmd"), get("api_key_cmd_timeout"), get("api_key_cmd_refresh")
    if command is None:
        if timeout is not None or refresh is not None:
            raise UsageError("--api-key-cmd-timeout and --api-key-cmd-refresh go with --api-key-cmd")
        return None
    if get("api_key_env"):
        raise UsageError("give the key one way: --api-key-cmd or --api-key-env, not both")
    timeout_s = positive_number("--api-key-cmd-timeout", DEFAULT_TIMEOUT_S if timeout is None else timeout)
    refresh_s = _seconds("--api-key-cmd-refresh", DEFAULT_REFRESH_S if refresh is None else refresh)
    source = KeySource(KeyCommand.parse(command, timeout_s=timeout_s, refresh_s=refresh_s))
    source.token()
    return source


def _seconds(option: str, value: Any) -> float:
    """``value`` as a finite number of seconds ≥ 0, or a usage error naming ``option``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{option} expects a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"{option} must be 0 or more seconds, got {value!r}")
    return number


def _models_dev_key(get: Callable[[str], Any], models_dev: str | None, environ: Mapping[str, str]) -> str | None:
    """The private registry's token from ``--models-dev-key-env``; it needs a ``--models-dev`` URL to go to."""
    name = get("models_dev_key_env")
    if name is None:
        return None
    if not models_dev or not models_dev.startswith(("http://", "https://")):
        raise UsageError("--models-dev-key-env is the token of a --models-dev URL; give --models-dev=URL")
    token = environ.get(name, "").strip()
    if not token:
        raise UsageError(f"--models-dev-key-env={name}: the environment variable {name} is not set or empty")
    return token


def _wire_apis(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    for name in names:
        if name not in WIRE_APIS:
            raise UsageError(f"--wire-api={name}: expected one of {', '.join(WIRE_APIS)}")
    return tuple(dict.fromkeys(names))


def _clients(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    for name in names:
        if name not in CLIENT_NAMES:
            raise UsageError(f"--client={name}: unknown client; known clients: {', '.join(CLIENT_NAMES)}")
    return tuple(names)


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

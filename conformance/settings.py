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
from conformance.errors import UsageError
from conformance.profiles import PROFILES

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
    api_key_env: str = DEFAULT_API_KEY_ENV
    """``--api-key-env``: the variable the key is read from (named in findings, never its value)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    all_models: bool = False
    concurrency: int = 4
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
        api_key=environ.get(key_env) or None,
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


WIRE_APIS = ("chat", "responses", "messages")


def _wire_apis(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    for name in names:
        if name not in WIRE_APIS:
            raise UsageError(f"--wire-api={name}: expected one of {', '.join(WIRE_APIS)}")
    return tuple(dict.fromkeys(names))


def _clients(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    known = [p.name for p in PROFILES]
    for name in names:
        if name not in known:
            raise UsageError(f"--client={name}: unknown profile; known profiles: {', '.join(known)}")
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

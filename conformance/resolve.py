"""From a command line to what a run checks: fetch what the target names once, then build the contexts.

``gather`` is the only step that reads files, stdin or the network, and it runs once per run (on the xdist
controller). What it returns is plain data (``Sources``), so every worker ``build``s the same contexts from it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from conformance import jsondoc, loader, urls
from conformance.client import Exchange, Http, HttpSettings
from conformance.errors import LoaderError, UsageError
from conformance.live import LiveOptions, LiveSetup, LiveTarget, ModelInfo
from conformance.settings import MODELS_DEV_URL, Settings, read_file
from conformance.target import CatalogContext, Part


@dataclass(frozen=True)
class Fetched:
    """A catalog document as the HTTP layer got it."""

    url: str
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    error: str | None = None
    elapsed_ms: float = 0.0

    @classmethod
    def of(cls, exchange: Exchange) -> Fetched:
        return cls(
            exchange.url, exchange.status, exchange.content_type, exchange.body, exchange.error, exchange.elapsed_ms
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "body": base64.b64encode(self.body).decode()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fetched:
        return cls(**{**data, "body": base64.b64decode(data["body"])})

    def part(self, what: str, max_bytes: int, *, unset_key: str | None = None) -> Part:
        """The document as the catalog checks read it, or why it cannot be read; ``unset_key`` names the key's
        variable when it was not set, for a refusal that asks for one."""
        if self.status is None or (self.error and self.status == 200):
            return Part(error=LoaderError("http", f"GET {self.url} got no answer: {self.error}"))
        if self.status != 200:
            hint = f" (no key was sent: ${unset_key} is not set)" if unset_key and self.status in (401, 403) else ""
            return Part(error=LoaderError("http", f"GET {self.url} answered {self.status}, not 200{hint}"))
        try:
            document = jsondoc.read(self.body, max_bytes=max_bytes)
        except LoaderError as exc:
            return Part(
                error=LoaderError(exc.code, f"{exc.message} ({self.content_type or 'no content type'})", exc.pointer)
            )
        served = None if "json" in self.content_type else (self.content_type or "no content type")
        return Part(document.value, served_as=served, duplicate_keys=document.duplicate_keys)


FETCHED = ("manifest", "extended", "model_list", "models_dev")


@dataclass(frozen=True)
class Sources:
    """Everything a run reads from outside, as plain data."""

    kind: str
    where: str
    raw: bytes | None = None
    manifest: Fetched | None = None
    extended: Fetched | None = None
    model_list: Fetched | None = None
    models_dev: Fetched | None = None
    base_url: str | None = None
    manifest_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "where": self.where,
            "base_url": self.base_url,
            "manifest_url": self.manifest_url,
        }
        if self.raw is not None:
            out["raw"] = base64.b64encode(self.raw).decode()
        for name in FETCHED:
            fetched = getattr(self, name)
            if fetched is not None:
                out[name] = fetched.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sources:
        fetched = {n: Fetched.from_json(data[n]) for n in FETCHED if n in data}
        raw = base64.b64decode(data["raw"]) if "raw" in data else None
        return cls(
            data["kind"],
            data["where"],
            raw,
            base_url=data.get("base_url"),
            manifest_url=data.get("manifest_url"),
            **fetched,
        )


@dataclass(frozen=True)
class Resolved:
    """What one run checks: the catalog (if the target has one) and the live setup (if it has an endpoint)."""

    sources: Sources
    catalog: CatalogContext | None
    live: LiveSetup | None
    live_blocked: str | None = None
    """Why the live checks cannot run (offline, a catalog that does not load …)."""
    secrets: tuple[str, ...] = field(default=())


async def _get(settings: HttpSettings, url: str, headers: dict[str, str]) -> Exchange:
    async with Http(settings) as http:
        return await http.request("GET", url, headers=headers)


def gather(
    settings: Settings,
    http: HttpSettings,
    *,
    read_stdin: Any,
    manifest_url: str | None = None,
    models_dev: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Sources:
    """Read what the target names: a file, stdin, or the hosted documents (user headers only for the
    manifest, as the reference client sends; manifest headers, user headers and the key for the model list).
    ``manifest_url`` overrides the target's (the reference provider's, once it listens); ``models_dev`` is the
    catalog (path or URL) read when the manifest says ``models_dev``. ``progress`` hears each fetch as it
    starts, so a slow server is seen waited on."""
    target = settings.target
    assert target is not None
    if target.kind == "provider-json":
        raw = read_stdin() if target.is_stdin else read_file("--provider-json", target.where, settings.max_body_bytes)
        return Sources(target.kind, "<stdin>" if target.is_stdin else target.where, raw=raw)
    if target.kind == "models-dev":
        catalog = _read_catalog(target.where, http, settings.max_body_bytes, settings.models_dev_key, progress)
        return Sources(target.kind, target.where, models_dev=catalog)
    if target.kind == "base-url":
        live = LiveTarget.from_url(target.where)
        headers = _bearer(http) | (_goog_key(http) if "gemini" in settings.wire_apis else {})
        progress(f"fetching the model list {live.url('models')}")
        listing = asyncio.run(_get(http, live.url("models"), headers))
        return Sources(target.kind, target.where, model_list=Fetched.of(listing), base_url=target.where)
    manifest_url = manifest_url or target.where
    progress(f"fetching the manifest {manifest_url}")
    manifest = Fetched.of(asyncio.run(_get(http, manifest_url, dict(http.headers))))
    extended = None
    parsed = _manifest(manifest, settings.max_body_bytes)
    catalog = None
    if parsed is not None and parsed.models_data_source == "endpoint":
        headers = {**parsed.headers, **_bearer(http)}
        progress(f"fetching the model list {parsed.extended_models_url}")
        extended = Fetched.of(asyncio.run(_get(http, parsed.extended_models_url, headers)))
    elif parsed is not None and parsed.models_data_source == "models_dev":
        catalog = _read_catalog(
            models_dev or MODELS_DEV_URL, http, settings.max_body_bytes, settings.models_dev_key, progress
        )
    return Sources(
        target.kind, target.where, manifest=manifest, extended=extended, models_dev=catalog, manifest_url=manifest_url
    )


def _read_catalog(
    where: str,
    http: HttpSettings,
    max_bytes: int,
    token: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Fetched:
    """A models.dev catalog from a URL (fetched with the user's headers, and a private registry's own bearer
    ``token``, which the HTTP layer drops on a redirect to another origin) or a file."""
    if where.startswith(("http://", "https://")):
        progress(f"fetching the models.dev catalog {where}")
        headers = dict(http.headers) | ({"authorization": f"Bearer {token}"} if token else {})
        return Fetched.of(asyncio.run(_get(http, where, headers)))
    return Fetched(where, 200, "application/json", read_file("--models-dev", where, max_bytes))


def _bearer(http: HttpSettings) -> dict[str, str]:
    headers = dict(http.headers)
    key = http.key()
    if key:
        headers["authorization"] = f"Bearer {key}"
    return headers


def _goog_key(http: HttpSettings) -> dict[str, str]:
    """The key as the Gemini API takes it (``x-goog-api-key``), for a base URL that may be a Gemini endpoint."""
    key = http.key()
    return {"x-goog-api-key": key} if key else {}


def _listed_ids(body: Any) -> list[str]:
    """Model ids of an OpenAI list (``data[].id``, or a bare array) or of a Gemini one (``models[].name`` under
    ``models/``)."""
    data = body.get("data") if isinstance(body, dict) else body
    ids = [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    models = body.get("models") if isinstance(body, dict) and not ids else None
    names = [m.get("name") for m in models if isinstance(m, dict)] if isinstance(models, list) else []
    return ids or [n.removeprefix("models/") for n in names if isinstance(n, str)]


def _manifest(fetched: Fetched, max_bytes: int) -> loader.Manifest | None:
    part = fetched.part("manifest", max_bytes)
    try:
        return loader.parse_manifest(part.value) if part.error is None else None
    except LoaderError:
        return None


def _select(ids: list[str], info: Callable[[str], ModelInfo], settings: Settings) -> tuple[ModelInfo, ...]:
    """The models to try: ``--model`` ids, all, or the first; ``info`` reads what the catalog says of one, asked
    only for these (a gateway's catalog lists thousands)."""
    chosen = settings.models or (ids if settings.all_models else ids[:1])
    return tuple(info(model_id) for model_id in chosen)


def _registry(catalog: Any, only: str | None) -> dict[str, str]:
    """Providers of a catalog with a usable ``api`` URL (no ``${VAR}`` template), to check live with the key."""
    if not isinstance(catalog, dict):
        return {}
    return {
        provider_id: entry["api"]
        for provider_id, entry in catalog.items()
        if (only is None or provider_id == only)
        and isinstance(entry, dict)
        and isinstance(entry.get("api"), str)
        and "${" not in entry["api"]
        and not urls.url_problem(entry["api"])
    }


def _models_dev_provider(catalog: Any, provider_id: Any) -> Any:
    """The provider's entry of a models.dev catalog (it has ``models`` like an extended list), or ``None``."""
    return catalog.get(provider_id) if isinstance(catalog, dict) and isinstance(provider_id, str) else None


def _catalog_models(value: Any) -> dict[str, dict[str, Any]]:
    """The model entries of an extended list (or a models.dev provider) that are objects, by id."""
    entries = value.get("models") if isinstance(value, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(v, dict)}


def build(sources: Sources, settings: Settings, options: LiveOptions) -> Resolved:
    """The run's contexts from its sources; no I/O."""
    secrets = (settings.api_key,) if settings.api_key else ()
    if sources.kind == "base-url":
        target = LiveTarget.from_url(sources.base_url or sources.where)
        listing = sources.model_list
        body = jsondoc.read(listing.body).value if listing and listing.status == 200 and _is_json(listing) else None
        ids = _listed_ids(body)
        read = listing is not None and listing.status == 200 and body is not None
        none = "GET {baseUrl}/models lists no model" if read else "the model list could not be read"
        live = LiveSetup(
            LiveTarget(
                target.base_url,
                _select(ids, ModelInfo, settings),
                given_url=target.given_url,
                no_models=f"{none} (see LST-001), so there is no model to try; give --model to choose one",
            ),
            options,
        )
        return Resolved(sources, None, live, secrets=secrets)
    if sources.kind == "models-dev":
        part = sources.models_dev.part("models.dev catalog", settings.max_body_bytes) if sources.models_dev else Part()
        catalog = CatalogContext.from_catalog(part, provider_id=settings.models_dev_provider)
        registry = _registry(part.value, settings.models_dev_provider) if settings.api_key else {}
        live = LiveSetup(LiveTarget("", (), registry=registry), options) if registry else None
        return Resolved(sources, catalog, live, secrets=secrets)
    if sources.kind == "provider-json":
        catalog = CatalogContext.from_embedded(sources.raw or b"", max_bytes=settings.max_body_bytes)
        manifest_part, extended_part, fetch_ms, fetch_failed = catalog.manifest, catalog.extended, {}, {}
    else:
        manifest_part = sources.manifest.part("manifest", settings.max_body_bytes) if sources.manifest else None
        unset_key = None if settings.api_key else settings.api_key_env
        extended_part = (
            sources.extended.part("model list", settings.max_body_bytes, unset_key=unset_key)
            if sources.extended
            else None
        )
        models_dev = (
            sources.models_dev.part("models.dev catalog", settings.max_body_bytes) if sources.models_dev else None
        )
        provider_id = (
            manifest_part.value.get("models_dev_provider_id")
            if manifest_part and isinstance(manifest_part.value, dict)
            else None
        )
        catalog = CatalogContext.from_hosted(
            manifest_part or Part(),
            extended_part,
            manifest_url=sources.manifest_url,
            models_dev=models_dev,
            models_dev_provider_id=provider_id if isinstance(provider_id, str) else None,
        )
        if models_dev is not None:
            extended_part = Part(_models_dev_provider(models_dev.value, provider_id))
        fetches = {
            "manifest": sources.manifest,
            "extended models": sources.extended,
            "models.dev catalog": sources.models_dev,
        }
        fetch_ms = {name: f.elapsed_ms for name, f in fetches.items() if f and f.status == 200}
        fetch_failed = {name: str(f.status or f.error) for name, f in fetches.items() if f and f.status != 200}

    try:
        manifest = loader.parse_manifest(
            manifest_part.value if manifest_part else None,
            embedded=sources.kind == "provider-json",
            pointer=manifest_part.pointer if manifest_part else "",
        )
    except LoaderError:
        return Resolved(
            sources, catalog, None, "the manifest does not load, so there is no baseUrl (see MAN-*, EMB-*)", secrets
        )
    models = _catalog_models(extended_part.value if extended_part else None)

    def info(model_id: str) -> ModelInfo:
        return ModelInfo.from_entry(model_id, models[model_id]) if model_id in models else ModelInfo(model_id)

    if manifest.models_data_source == "models_dev":
        unread = sources.models_dev is None or sources.models_dev.status != 200
        source = "the models.dev catalog could not be read: see MDV-001" if unread else "see MDV-001, MDV-002"
    else:
        source = "see EXT-001, EXT-002"
    target = LiveTarget(
        manifest.base_url,
        _select(list(models), info, settings),
        tuple(models),
        dict(manifest.headers),
        fetch_ms,
        fetch_failed,
        no_models=f"the catalog gives no model to try ({source}); give --model to try one anyway",
    )
    blocked = "--offline: nothing is sent over the network" if settings.offline else None
    return Resolved(sources, catalog, LiveSetup(target, options), blocked, secrets)


def _is_json(fetched: Fetched) -> bool:
    try:
        jsondoc.read(fetched.body)
    except LoaderError:
        return False
    return True


def check_url(option: str, value: str) -> str:
    """``value`` if it is an absolute http(s) URL, else a usage error naming ``option``."""
    problem = urls.url_problem(value)
    if problem:
        raise UsageError(f"{option}={value}: not a usable URL: {problem}")
    return value

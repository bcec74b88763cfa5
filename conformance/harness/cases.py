"""Corpus cases as loader-protocol requests, with what the reference concludes of each.

Each input kind goes to a loader the way a client receives it:

==========  =============  ==========================================================================
case kind   request kind   what is served
==========  =============  ==========================================================================
embedded    embedded       nothing: the pasted text is in the request
hosted      hosted         the manifest at its URL, then the extended list at the URL derived from
                           ``baseUrl``, or the models.dev catalog for a ``models_dev`` manifest
manifest    hosted         the manifest, and a stand-in model list where a manifest that loads points
extended    models_dev     the list as the provider ``acme`` of a models.dev catalog (the same shape)
==========  =============  ==========================================================================

A case lives in its own universe of URLs (``https://api.example/v1``); ``stage`` maps each origin it names onto
a port of the loopback server, rewriting only the origin (scheme, host, port) of ``baseUrl``, an absolute or
scheme-relative ``models_endpoint`` and the URLs requested, so paths, queries, trailing slashes and relative
resolution mean what they meant. Origins are read as ``new URL()`` reads them, so every http(s) URL a client
would fetch (``https:host/v1`` without slashes, a host that is an unexpanded ``${placeholder}``) is on
loopback too, and no case sends a loader anywhere else. The requests a conforming client makes (``Exchange``)
are the case's recorded ``exchanges`` or, for cases without, derived by the reference rules; ``compare`` checks
the loader's requests against them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from conformance import corpus, kilo_code, loader, urls
from conformance.errors import LoaderError
from conformance.harness.exchanges import HOST
from conformance.harness.reference import extended_headers
from conformance.settings import MODELS_DEV_URL

API_KEY = "sk-loader-harness-5f1c"
"""The key a hosted request carries unless a case names its own: distinctive, so a leak is found by search."""
MANIFEST_URL = "https://provider.example/v1/models?provider=true"
"""Where the manifest is served for cases that do not say where it was fetched from."""
PROVIDER_ID = "acme"
"""The provider an extended case's model list is filed under in the models.dev catalog it is served in."""
STAND_IN_MODELS: dict[str, Any] = {
    "models": {
        "acme/stand-in": {
            "id": "acme/stand-in",
            "name": "Stand-in",
            "attachment": False,
            "modalities": {"input": ["text"], "output": ["text"]},
            "cost": {"input": 1, "output": 2},
            "limit": {"context": 32000, "output": 4000},
        }
    }
}
"""What a manifest case's manifest leads to: a clean list, so the manifest alone decides the outcome."""
KINDS = ("embedded", "hosted", "manifest", "extended", "discover", "catalog")
STAGE_WORDS = {
    "parse": "parse (JSON.parse)",
    "schema": "schema (the document is read, and refused)",
    "fetch": "fetch (the documents are accepted; a request cannot be made or fails)",
}
"""The corpus input kinds the harness puts to loaders."""
ROLE_WORDS = {
    "manifest": "the manifest URL",
    "extended": "the extended-models URL (baseUrl trimmed, up to two trailing slashes stripped, /models; or "
    "models_endpoint resolved against baseUrl; its query kept and extended=true added, PD:153-174)",
    "models_dev": "the models.dev catalog",
    "discover": "the model list shipping Kilo discovers (new URL('models', baseURL + '/'))",
}
_ABSOLUTE = re.compile(
    r"(?P<lead>\s*)(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<slashes>[/\\]*)(?P<authority>[^/\\?#]*)(?P<rest>.*)", re.S
)
_SCHEME_RELATIVE = re.compile(r"(?P<lead>\s*)//(?P<authority>[^/?#]*)(?P<rest>.*)", re.S)


@dataclass(frozen=True)
class Exchange:
    """One request a conforming client makes, and the document the server answers it with."""

    url: str
    response: str
    """Which document answers: ``manifest``, ``extended`` or ``models_dev``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers the client must send, names in lower case, exact values."""
    absent_headers: tuple[str, ...] = ()
    """Headers the client must not send (in lower case)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exchange:
        return cls(
            data["url"],
            data["response"],
            {name.lower(): value for name, value in data.get("headers", {}).items()},
            tuple(name.lower() for name in data.get("absent_headers", ())),
        )


@dataclass(frozen=True)
class Expected:
    """What the reference makes of a request: accepted with these models, or refused with this code."""

    ok: bool
    code: str | None = None
    models: Mapping[str, Mapping[str, Any]] | None = None
    stage: str | None = None
    """Where the client gives up on a refused input: ``parse``, ``schema`` or ``fetch``."""

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> Expected:
        """From a protocol response of the reference loader."""
        if response["ok"]:
            return cls(True, models=response["models"])
        return cls(False, code=response.get("code"), stage=response.get("stage"))

    def describe(self) -> str:
        if not self.ok:
            at = f" at the {STAGE_WORDS[self.stage]}" if self.stage else ""
            return f"refused{at} ({self.code})" if self.code else f"refused{at}"
        ids = list(self.models or {})
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        return f"accepted, {len(ids)} model(s)" + (f": {shown}" if ids else "")


def _view(models: Mapping[str, loader.ClientModel]) -> dict[str, dict[str, Any]]:
    return {model_id: model.to_json() for model_id, model in models.items()}


STAND_IN_VIEW = _view(loader.parse_extended(STAND_IN_MODELS))


@dataclass(frozen=True)
class Plan:
    """One request to put to a loader, in the case's own URLs, and what the reference concludes of it."""

    id: str
    description: str
    kind: str
    """The request kind: ``embedded``, ``hosted`` or ``models_dev``."""
    expected: Expected
    raw: str | None = None
    documents: Mapping[str, Any] = field(default_factory=dict)
    """The documents served, by role (``manifest``, ``extended``, ``models_dev``)."""
    exchanges: tuple[Exchange, ...] = ()
    api_key: str = API_KEY
    headers: Mapping[str, str] = field(default_factory=dict)
    provider_id: str = PROVIDER_ID
    base_url: str = ""
    """The configured baseURL (``discover`` requests only)."""

    def url_of(self, role: str, default: str) -> str:
        return next((e.url for e in self.exchanges if e.response == role), default)


def derive_exchanges(manifest: Any, manifest_url: str, api_key: str, headers: Mapping[str, str]) -> list[Exchange]:
    """The requests the reference client makes for a hosted manifest: the manifest with the user's headers and
    no key (PD:320); then, if the manifest loads, the extended list with the manifest's headers, the user's and
    the key unless they set Authorization (PD:252), or the models.dev catalog with the user's headers and no
    key (PD:285). An Authorization the user set goes wherever the user's headers go."""
    user = {name.lower(): value for name, value in headers.items()}
    no_key = () if "authorization" in user else ("authorization",)
    out = [Exchange(manifest_url, "manifest", user, no_key)]
    try:
        parsed = loader.parse_manifest(manifest)
    except LoaderError:
        return out
    if parsed.models_data_source == "models_dev":
        return [*out, Exchange(MODELS_DEV_URL, "models_dev", user, no_key)] if parsed.models_dev_provider_id else out
    if next(loader.fetch_problems(manifest), None):
        return out
    return [*out, Exchange(parsed.extended_models_url, "extended", extended_headers(parsed.headers, user, api_key))]


def from_input(
    case_id: str,
    description: str,
    case_input: Mapping[str, Any],
    expected: Expected,
) -> Plan:
    """The plan for a corpus case input (``fixtures/README.md``); ``expected`` is what the reference concludes."""
    kind = case_input["kind"]
    if kind == "embedded":
        raw = case_input["raw"] if "raw" in case_input else json.dumps(case_input["json"])
        return Plan(case_id, description, "embedded", expected, raw=raw)
    if kind == "discover":
        return _discover_plan(case_id, description, case_input, expected)
    if kind == "catalog":
        exchange = Exchange(MODELS_DEV_URL, "models_dev", {}, ("authorization",))
        documents = {"models_dev": case_input["json"]}
        plan = Plan(case_id, description, "models_dev", expected, documents=documents, exchanges=(exchange,))
        return replace(plan, provider_id=case_input["provider_id"])
    if kind == "extended":
        catalog = {PROVIDER_ID: case_input["json"]}
        exchange = Exchange(MODELS_DEV_URL, "models_dev", {}, ("authorization",))
        return Plan(
            case_id,
            description,
            "models_dev",
            expected,
            documents={"models_dev": catalog},
            exchanges=(exchange,),
        )
    manifest = case_input["json"] if kind == "manifest" else case_input["manifest"]
    provider_id = manifest.get("models_dev_provider_id") if isinstance(manifest, dict) else None
    documents: dict[str, Any] = {"manifest": manifest}
    if kind == "manifest":
        documents["extended"] = STAND_IN_MODELS
    elif "extended" in case_input:
        documents["extended"] = case_input["extended"]
    if "models_dev" in case_input:
        documents["models_dev"] = case_input["models_dev"]
    elif "extended" in documents and isinstance(provider_id, str):  # a models_dev manifest's list is its entry
        documents["models_dev"] = {provider_id: documents["extended"]}
    if kind == "manifest":
        expected = replace(expected, models=STAND_IN_VIEW if expected.ok else None)
    api_key = case_input.get("api_key", API_KEY)
    headers = case_input.get("headers", {})
    recorded = case_input.get("exchanges")
    exchanges = (
        [Exchange.from_json(e) for e in recorded]
        if recorded is not None
        else derive_exchanges(manifest, case_input.get("manifest_url", MANIFEST_URL), api_key, headers)
    )
    return Plan(
        case_id,
        description,
        "hosted",
        expected,
        documents=documents,
        exchanges=tuple(exchanges),
        api_key=api_key,
        headers=headers,
    )


def _discover_plan(case_id: str, description: str, case_input: Mapping[str, Any], expected: Expected) -> Plan:
    """Shipping Kilo's model discovery: the list is served at the discovery URL (only when the case's answer is
    2xx; any other status is served as a 404), and fetched with the headers and the key."""
    api_key = case_input.get("api_key", API_KEY)
    headers = case_input.get("headers", {})
    url = kilo_code.discovery_url(case_input["base_url"])
    sent = {name.lower(): value for name, value in kilo_code.discovery_headers(headers, api_key).items()}
    exchanges = (Exchange(url, "discover", sent),) if url else ()
    served = 200 <= case_input.get("status", 200) < 300
    documents = {"discover": case_input["response"]} if served else {}
    return Plan(
        case_id,
        description,
        "discover",
        expected,
        documents=documents,
        exchanges=exchanges,
        api_key=api_key,
        headers=headers,
        base_url=case_input["base_url"],
    )


def plan(case: corpus.Case) -> Plan | None:
    """The plan for a corpus case, expected as the case says; ``None`` for an input kind a loader is not given."""
    if case.input["kind"] not in KINDS:
        return None
    found = case.expected
    expected = Expected("error" not in found, found.get("error"), found.get("models"), found.get("stage"))
    return from_input(case.id, case.description, case.input, expected)


class _Loopback:
    """Maps each origin a case names onto a port of the loopback server, in the order they come."""

    def __init__(self, ports: Sequence[int]) -> None:
        self._free = list(ports)
        self._ports: dict[tuple[str, str, int | None], int] = {}

    def _authority(self, origin: tuple[str, str, int | None]) -> str:
        if origin not in self._ports:
            if not self._free:
                raise RuntimeError(f"a case names more origins than the loopback server has ports ({len(self._ports)})")
            self._ports[origin] = self._free.pop(0)
        return f"{HOST}:{self._ports[origin]}"

    def url(self, value: str) -> str:
        """An http(s) URL, as ``new URL()`` reads it, on loopback, written as it was (its leading space, its
        slashes or their absence); anything else is left as it is, since no client fetches it."""
        match = _ABSOLUTE.fullmatch(value)
        parsed = urls.whatwg_parse(urls.js_trim(value))
        if match is None or parsed is None or parsed.protocol not in ("http:", "https:"):
            return value
        origin = (parsed.protocol[:-1], parsed.hostname.lower(), int(parsed.port) if parsed.port else None)
        return f"{match['lead']}http:{match['slashes']}{self._authority(origin)}{match['rest']}"

    def reference(self, value: str, base_url: str) -> str:
        """A ``models_endpoint``: an absolute or scheme-relative one on loopback, a relative one as it is."""
        match = _SCHEME_RELATIVE.fullmatch(value)
        if match is None:
            return self.url(value)
        resolved = urls.whatwg_parse(value, urls.js_trim(base_url))
        if resolved is None or resolved.protocol not in ("http:", "https:"):
            return value
        origin = (resolved.protocol[:-1], resolved.hostname.lower(), int(resolved.port) if resolved.port else None)
        return f"{match['lead']}//{self._authority(origin)}{match['rest']}"

    def manifest(self, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("baseUrl"), str):
            return value
        base = value["baseUrl"]
        out = {**value, "baseUrl": self.url(base)}
        if isinstance(value.get("models_endpoint"), str):
            out["models_endpoint"] = self.reference(value["models_endpoint"], base)
        return out


def _on_loopback(url: str) -> bool:
    parsed = urls.whatwg_parse(urls.js_trim(url))
    return parsed is not None and parsed.protocol == "http:" and parsed.hostname == HOST


@dataclass(frozen=True)
class Staged:
    """A plan on the loopback server: the request to send, what to serve where, the requests to expect."""

    request: dict[str, Any]
    routes: dict[str, bytes]
    exchanges: tuple[Exchange, ...]


def _body(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def _careless_guess(manifest: Any) -> str | None:
    """The extended-models URL of a manifest the reference may refuse, if it has one on loopback."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("baseUrl"), str):
        return None
    endpoint = manifest.get("models_endpoint")
    try:
        guess = urls.extended_models_url(manifest["baseUrl"], endpoint if isinstance(endpoint, str) else None)
    except (ValueError, TypeError):
        return None
    return guess if _on_loopback(guess) else None


def stage(plan: Plan, ports: Sequence[int]) -> Staged:
    """Put ``plan`` on the loopback ``ports``."""
    if plan.kind == "embedded":
        return Staged({"kind": "embedded", "raw": plan.raw}, {}, ())
    loop = _Loopback(ports)
    documents = dict(plan.documents)
    if "manifest" in documents:
        documents["manifest"] = loop.manifest(documents["manifest"])
    exchanges = tuple(replace(e, url=loop.url(e.url)) for e in plan.exchanges)
    stray = [e.url for e in exchanges if not _on_loopback(e.url)]
    if stray:
        raise RuntimeError(f"{plan.id}: cannot serve {stray[0]!r} on loopback")
    routes = {e.url: _body(documents[e.response]) for e in exchanges if e.response in documents}
    if plan.kind == "discover":
        request = {"kind": "discover", "base_url": loop.url(plan.base_url), "api_key": plan.api_key}
        return Staged({**request, "headers": dict(plan.headers)}, routes, exchanges)
    catalog_url = loop.url(plan.url_of("models_dev", MODELS_DEV_URL))
    if "models_dev" in documents:
        routes.setdefault(catalog_url, _body(documents["models_dev"]))
    if plan.kind == "models_dev":
        request = {"kind": "models_dev", "catalog_url": catalog_url, "provider_id": plan.provider_id}
        return Staged(request, routes, exchanges)
    manifest = documents["manifest"]
    unfetchable = next(loader.fetch_problems(plan.documents["manifest"]), None)  # then nothing may answer there
    guess = _careless_guess(manifest) if "extended" in documents and not unfetchable else None
    if guess:  # where a loader that skips a rule looks, so that it is caught accepting what it must refuse
        routes.setdefault(guess, _body(documents["extended"]))
    request = {
        "kind": "hosted",
        "manifest_url": loop.url(plan.url_of("manifest", MANIFEST_URL)),
        "api_key": plan.api_key,
        "headers": dict(plan.headers),
        "models_dev_url": catalog_url,
    }
    return Staged(request, routes, exchanges)

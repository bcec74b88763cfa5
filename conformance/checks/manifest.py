"""MAN-*: the manifest (``GET …/models?provider=true``, or element 0 of embedded JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

from conformance import jsondoc, loader, urls
from conformance.catalogue import CheckFunc, check
from conformance.errors import LoaderError
from conformance.findings import Finding, Severity
from conformance.target import CatalogContext, Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD
LOADER_SCHEMA = "the reference loader's manifest schema"


def loader_rule(*codes: str) -> CheckFunc:
    """A check that reports the loader's own manifest problems with these codes: one rule, stated once."""

    def func(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
        problems = loader.manifest_problems(subject.value, embedded=ctx.embedded, pointer=subject.pointer)
        return (p for p in problems if p.code in codes)

    func.__qualname__ = f"loader_rule{codes}"
    return func


@check(
    "MAN-001",
    MUST,
    "The manifest is a JSON object",
    scope="manifest",
    rationale="the client reads named fields of an object; anything else is refused before a model shows",
    source="Provider Defined docs",
)
def manifest_is_object(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if ctx.manifest and ctx.manifest.error:
        yield Finding(
            f"the manifest could not be read: {ctx.manifest.error.message}",
            ctx.manifest.error.pointer,
            "a JSON object",
            fix="serve the manifest as a UTF-8 JSON object",
        )
        return
    if ctx.manifest and ctx.manifest.served_as:
        yield Finding(
            f"the manifest is served as {ctx.manifest.served_as}",
            expected="HTTP 200, application/json",
            fix="serve the manifest with Content-Type: application/json",
        )
    yield from loader_rule("manifest-not-object")(subject, ctx)


check(
    "MAN-002",
    MUST,
    "`name` is a non-empty string",
    scope="manifest",
    requires="MAN-001",
    rationale="the provider picker shows `name`; the loader refuses a manifest without it",
    source=LOADER_SCHEMA,
)(loader_rule("manifest-name"))
check(
    "MAN-003",
    MUST,
    "`baseUrl` is an absolute http(s) URL",
    scope="manifest",
    requires="MAN-001",
    rationale="every request goes to `baseUrl`; `new URL()` must accept it",
    source="reference loader: new URL(baseUrl)",
)(loader_rule("manifest-base-url"))
check(
    "MAN-004",
    MUST,
    "`website` is an absolute URL",
    scope="manifest",
    requires="MAN-001",
    rationale="the reference loader requires it although the docs do not say so",
    source=LOADER_SCHEMA,
)(loader_rule("manifest-website"))
check(
    "MAN-005",
    MUST,
    "`models_data_source` is valid for this form",
    scope="manifest",
    requires="MAN-001",
    rationale="hosted manifests use 'endpoint' or 'models_dev'; embedded JSON uses 'embedded'",
    source="Provider Defined docs; loader errors",
)(loader_rule("manifest-source"))
check(
    "MAN-006",
    MUST,
    "'models_dev' comes with a `models_dev_provider_id`",
    scope="manifest",
    requires="MAN-001",
    rationale="without the id the client cannot find the provider in the catalog",
    source='loader error "models_dev_provider_id is required…"',
)(loader_rule("manifest-models-dev-id"))
check(
    "MAN-007",
    MUST,
    "`headers` and `models_endpoint` have the right types",
    scope="manifest",
    requires="MAN-001",
    rationale="headers are sent verbatim and must be strings; models_endpoint is resolved as a URL",
    source=LOADER_SCHEMA,
)(loader_rule("manifest-headers", "manifest-models-endpoint"))


def _base_url(subject: Subject) -> str | None:
    value = subject.value.get("baseUrl") if isinstance(subject.value, dict) else None
    value = urls.js_trim(value) if isinstance(value, str) else None  # as the client's schema hands it on
    return value if value and not urls.url_problem(value) else None


@check(
    "MAN-008",
    SHOULD,
    "`baseUrl` uses https",
    scope="manifest",
    requires="MAN-003",
    rationale="the client sends the user's API key and code to `baseUrl`; plain http exposes both",
    source="security: API keys travel in the Authorization header",
)
def base_url_https(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    base = _base_url(subject)
    if base and base.lower().startswith("http://") and not urls.is_local_host(base):
        yield Finding(
            f"`baseUrl` {base} is plain http on a public host",
            jsondoc.join(subject.pointer, "baseUrl"),
            "https:// (http only for loopback or private hosts)",
            base,
            "serve the API over https",
        )


@check(
    "MAN-009",
    SHOULD,
    "`baseUrl` is an API root with its version",
    scope="manifest",
    requires="MAN-003",
    rationale="clients append /chat/completions and /models; an endpoint path or a missing /v1 breaks them",
    source='Provider Defined docs "Testing Tips"; Roo-Code #1065, #2077',
)
def base_url_is_root(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    base = _base_url(subject)
    if not base:
        return
    where = jsondoc.join(subject.pointer, "baseUrl")
    suffix = urls.endpoint_suffix(base)
    if suffix:
        root = base.rstrip("/")[: -len(suffix)]
        yield Finding(
            f"`baseUrl` ends in the endpoint path {suffix}; clients append {suffix} themselves and "
            f"would call …{suffix}{suffix}",
            where,
            "the API root, e.g. https://api.example.com/v1",
            base,
            f"set baseUrl to {root}",
        )
    elif not urls.has_version_segment(base):
        yield Finding(
            "`baseUrl` has no API version segment (such as /v1); clients build "
            f"{base.rstrip('/')}/chat/completions from it",
            where,
            "a versioned root such as …/v1",
            base,
            "include the version path your OpenAI-compatible API is served under",
        )


@check(
    "MAN-010",
    SHOULD,
    "`baseUrl` is on the manifest's origin",
    scope="manifest",
    requires="MAN-003",
    rationale="the client sends the user's API key to `baseUrl`; another origin gets the key too",
    source="security: the key goes wherever baseUrl points",
    applies=lambda ctx: ctx.manifest_url is not None,
)
def base_url_same_origin(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    base = _base_url(subject)
    if not base or ctx.manifest_url is None:
        return
    if urls.origin(base) != urls.origin(ctx.manifest_url):
        scheme, host, port = urls.origin(base)
        yield Finding(
            f"the manifest at {ctx.manifest_url} sends clients to another origin, {scheme}://{host}:{port}: "
            "the user's API key will be sent to that origin",
            jsondoc.join(subject.pointer, "baseUrl"),
            "the manifest's own origin",
            base,
            "serve the manifest from the API's origin, or tell users plainly which origin receives their key",
        )


@check(
    "MAN-011",
    SHOULD,
    "The manifest holds no null values",
    scope="manifest",
    requires="MAN-001",
    rationale="the loader's optional fields reject null: leave a field out instead",
    source=LOADER_SCHEMA,
)
def manifest_no_nulls(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    for pointer, value in jsondoc.walk(subject.value, subject.pointer):
        if value is None:
            yield Finding("null value", pointer, "a value, or no field at all", None, "remove the field")


@check(
    "MAN-012",
    SHOULD,
    "`models_endpoint` keeps the path of `baseUrl`",
    scope="manifest",
    requires="MAN-007",
    rationale="a relative models_endpoint is resolved by URL rules: 'models/x' against …/v1 drops /v1",
    source="URL resolution (RFC 3986 §5) as the client applies it",
)
def models_endpoint_keeps_path(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    base, endpoint = _base_url(subject), subject.value.get("models_endpoint")
    if base and isinstance(endpoint, str) and urls.models_endpoint_drops_base_path(base, endpoint):
        yield Finding(
            f"`models_endpoint` {endpoint!r} resolves to {urljoin(base, endpoint)}, outside {base}",
            jsondoc.join(subject.pointer, "models_endpoint"),
            "a URL under baseUrl",
            endpoint,
            "give an absolute URL, or end baseUrl with '/' so relative paths stay under it",
        )


@check(
    "MAN-013",
    SHOULD,
    "`baseUrl` is written in full, with nothing around it",
    scope="manifest",
    requires="MAN-003",
    rationale="the Provider Defined client trims baseUrl and reads https:host as https://host (new URL), but "
    "clients that build URLs by concatenation keep a trailing space and the missing slashes",
    source="provider-defined.ts PD:20-31 (z.string().trim(), new URL); Roo-Code builds URLs by concatenation",
)
def base_url_written_in_full(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    base = subject.value.get("baseUrl") if isinstance(subject.value, dict) else None
    if not isinstance(base, str) or urls.whatwg_parse(urls.js_trim(base)) is None:
        return
    where = jsondoc.join(subject.pointer, "baseUrl")
    if urls.js_trim(base) != base:
        yield Finding(
            f"`baseUrl` {base!r} has whitespace around it", where, "the URL alone", base, "remove the whitespace"
        )
    written = urls.js_trim(base)
    scheme = written.split(":", 1)[0].lower()
    if scheme in ("http", "https") and not written[len(scheme) + 1 :].startswith("//"):
        yield Finding(
            f"`baseUrl` {base!r} has no // after {scheme}:; the client reads it as "
            f"{urls.whatwg_parse(written).href}, other clients as a relative path",
            where,
            f"{scheme}://host/…",
            base,
            f"write {urls.whatwg_parse(written).href}",
        )


CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie")


@check(
    "MAN-014",
    SHOULD,
    "The manifest's `headers` carry no credential to another origin",
    scope="manifest",
    requires="MAN-007",
    rationale="the client sends the manifest's headers with the model-list request; an Authorization there also "
    "replaces the user's key (PD:146), so a credential published in the manifest goes to that origin for everyone",
    source="provider-defined.ts PD:127-151, PD:252 (normalizeHeaders)",
    applies=lambda ctx: ctx.manifest_url is not None,
)
def no_credential_in_manifest_headers(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    headers = subject.value.get("headers")
    if not isinstance(headers, dict) or ctx.manifest_url is None:
        return
    found = [name for name in headers if name.lower() in CREDENTIAL_HEADERS]
    if not found:
        return
    try:
        manifest = loader.parse_manifest(subject.value)
        target = manifest.extended_models_url
    except (LoaderError, ValueError):
        return
    if subject.value.get("models_data_source") != "endpoint" or urls.origin(target) == urls.origin(ctx.manifest_url):
        return
    scheme, host, port = urls.origin(target)
    for name in found:
        replaces = " and it replaces the user's own key (PD:146)" if name.lower() == "authorization" else ""
        yield Finding(
            f"the manifest at {ctx.manifest_url} has a `{name}` header: the client sends it to another origin, "
            f"{scheme}://{host}:{port}, with the model-list request{replaces}; whoever reads the manifest has it",
            jsondoc.join(subject.pointer, "headers", name),
            "no credential in a published manifest",
            "<a credential>",
            "leave credentials to the user's key; the client adds Authorization: Bearer <key> itself",
        )

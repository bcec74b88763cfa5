"""URL rules shared by the loader and the checks: what a client accepts and what it derives."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin, urlsplit

import ada_url

ENDPOINT_SUFFIXES = (
    "/chat/completions",
    "/completions",
    "/responses",
    "/messages",
    "/models",
    "/embeddings",
)
_VERSION_SEGMENT = re.compile(r"^v\d+(?:(?:alpha|beta)\d*)?$", re.IGNORECASE)
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_BAD_HOST = re.compile(r"[\s<>\"{}|\\^`\x00-\x1f\x7f]")


def url_problem(value: str, *, schemes: tuple[str, ...] | None = ("http", "https")) -> str | None:
    """Why a WHATWG ``new URL()`` call (and then an HTTP client) would refuse ``value``, or ``None``.

    ``schemes=None`` accepts any scheme; only http(s) URLs then need a host (``mailto:`` is a fine website).
    """
    value = value.strip(_C0_AND_SPACE)  # as the URL parser does before anything else
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"it does not parse ({exc})"
    if not parts.scheme:
        return "it is not absolute (no scheme such as https://)"
    if schemes is None and parts.scheme.lower() not in ("http", "https"):
        return None if value[len(parts.scheme) + 1 :] else "it has nothing after the scheme"
    if schemes is not None and parts.scheme.lower() not in schemes:
        return f"its scheme is {parts.scheme!r}, expected {' or '.join(schemes)}"
    if not parts.hostname:
        return "it has no host"
    if _BAD_HOST.search(parts.netloc):
        return "its host contains characters no URL may hold"
    return None


def has_trailing_space(value: str) -> bool:
    """Whether ``value`` ends in what a URL parser strips but string concatenation keeps."""
    return value != value.rstrip(_C0_AND_SPACE)


def origin(url: str) -> tuple[str, str, int | None]:
    """The (scheme, host, port) origin of ``url``, with the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def is_local_host(url: str) -> bool:
    """True for loopback and private-network hosts, where plain http is acceptable."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def endpoint_suffix(base_url: str) -> str | None:
    """The endpoint path ``base_url`` wrongly ends in (``/chat/completions`` …), if any."""
    path = urlsplit(base_url).path.rstrip("/").lower()
    return next((s for s in ENDPOINT_SUFFIXES if path.endswith(s)), None)


def has_version_segment(base_url: str) -> bool:
    """Whether the base URL's path names an API version (``/v1``, ``/v1beta`` …)."""
    return any(_VERSION_SEGMENT.match(seg) for seg in urlsplit(base_url).path.split("/"))


JS_WHITESPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""What JavaScript's ``String.prototype.trim()`` removes (the Provider Defined client trims pasted text, and its
schema trims ``baseUrl`` and ``website``)."""
_DNS_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def js_trim(value: str) -> str:
    """``value.trim()`` as JavaScript does it: a byte-order mark counts as whitespace."""
    return value.strip(JS_WHITESPACE)


def whatwg_parse(value: str, base: str | None = None) -> ada_url.URL | None:
    """``new URL(value, base)`` as Node does it (the same parser, Ada), or ``None`` where it throws."""
    try:
        return ada_url.URL(value, base) if base is not None else ada_url.URL(value)
    except ValueError:
        return None


def fetch_problem(url: str) -> str | None:
    """Why an HTTP client (axios in the Provider Defined client) cannot GET a URL ``new URL()`` accepts, or
    ``None``: a scheme other than http(s), or a host that no DNS name or address can be."""
    parsed = whatwg_parse(url)
    if parsed is None:
        return "it is not a URL"
    if parsed.protocol not in ("http:", "https:"):
        return f"its scheme is {parsed.protocol[:-1]!r}: an HTTP client fetches only http and https"
    host = parsed.hostname
    if host.startswith("[") or _DNS_NAME.match(host):
        return None
    return f"its host {host!r} is no DNS name (an unexpanded placeholder?): the fetch fails"


def extended_models_url(base_url: str, models_endpoint: str | None = None) -> str:
    """Where the Provider Defined client fetches the extended model list (provider-defined.ts, PD:153-174).

    ``baseUrl`` is trimmed by the manifest schema (PD:22). A non-empty ``models_endpoint`` is resolved against it
    with ``new URL(endpoint, baseUrl)`` (PD:158); otherwise one trailing slash is stripped from the whole string
    (PD:153), another from the path (PD:170), and ``/models`` appended. Either way ``extended=true`` is added
    unless the query has an ``extended`` parameter (PD:159-161, PD:171-173). ``ValueError`` where ``new URL``
    throws (the client then says "Invalid models_endpoint in provider manifest").
    """
    base = js_trim(base_url)
    if models_endpoint:
        url = whatwg_parse(models_endpoint, base)
        if url is None:
            raise ValueError(f"models_endpoint {models_endpoint!r} does not resolve against baseUrl {base!r}")
    else:
        url = whatwg_parse(base[:-1] if base.endswith("/") else base)
        if url is None:
            raise ValueError(f"baseUrl {base!r} is not a URL")
        path = url.pathname
        url.pathname = (path[:-1] if path.endswith("/") else path) + "/models"
    params = ada_url.URLSearchParams(url.search)
    if not params.has("extended"):
        params.append("extended", "true")
        url.search = str(params)
    return url.href


def resolve(base_url: str, reference: str) -> tuple[str | None, str | None]:
    """``reference`` resolved against ``base_url`` by RFC 3986 rules: (URL, None), or (None, why not)."""
    try:
        resolved = urljoin(base_url, reference)
    except ValueError as exc:
        return None, f"it does not resolve against baseUrl ({exc})"
    problem = url_problem(resolved)
    return (None, problem) if problem else (resolved, None)


def models_endpoint_drops_base_path(base_url: str, models_endpoint: str) -> bool:
    """True when a relative ``models_endpoint`` resolves outside the base URL's path (``models/x`` vs ``/v1``).

    Absolute URLs are taken as meant; a query-only or fragment-only reference keeps the path.
    """
    reference = urlsplit(models_endpoint)
    if reference.scheme or reference.netloc:
        return False
    resolved, _ = resolve(base_url, models_endpoint)
    if resolved is None:
        return False
    base_path = urlsplit(base_url).path.rstrip("/")
    path = urlsplit(resolved).path
    return not (path == base_path or path.startswith(base_path + "/"))

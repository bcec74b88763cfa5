"""URL rules shared by the loader and the checks: what a client accepts and what it derives."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

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


def extended_models_url(base_url: str, models_endpoint: str | None = None) -> str:
    """Where a Provider Defined client fetches the extended model list.

    ``models_endpoint``, when given, is resolved against ``base_url`` by standard URL resolution and used as
    it is. Otherwise: one trailing slash of the path is stripped, ``/models`` appended, the base URL's query
    kept, and ``extended=true`` added unless the query already has an ``extended`` parameter.
    """
    if models_endpoint is not None:
        return urljoin(base_url, models_endpoint)
    parts = urlsplit(base_url)
    path = parts.path[:-1] if parts.path.endswith("/") else parts.path
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name == "extended" for name, _ in query):
        query.append(("extended", "true"))
    return urlunsplit((parts.scheme, parts.netloc, path + "/models", urlencode(query), ""))


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

"""URL derivation and the URL rules the manifest checks rely on."""

from __future__ import annotations

import pytest

from conformance import urls


@pytest.mark.parametrize(
    ("base", "endpoint", "expected"),
    [
        ("https://api.acme.example/v1", None, "https://api.acme.example/v1/models?extended=true"),
        ("https://api.acme.example/v1/", None, "https://api.acme.example/v1/models?extended=true"),
        ("https://api.acme.example/v1?region=eu", None, "https://api.acme.example/v1/models?region=eu&extended=true"),
        ("https://api.acme.example/v1?extended=1", None, "https://api.acme.example/v1/models?extended=1"),
        ("http://127.0.0.1:8080/v1", None, "http://127.0.0.1:8080/v1/models?extended=true"),
        ("https://api.acme.example/v1", "models/x", "https://api.acme.example/models/x?extended=true"),
        ("https://api.acme.example/v1/", "models/x", "https://api.acme.example/v1/models/x?extended=true"),
        ("https://api.acme.example/v1", "/catalog", "https://api.acme.example/catalog?extended=true"),
        ("https://api.acme.example/v1", "/catalog?extended=1", "https://api.acme.example/catalog?extended=1"),
        (
            "https://api.acme.example/v1",
            "https://cdn.acme.example/m.json",
            "https://cdn.acme.example/m.json?extended=true",
        ),
        # PD:153 strips a slash from the string, PD:170 another from the path; "" counts as no endpoint (PD:156)
        ("https://api.acme.example/v1//", None, "https://api.acme.example/v1/models?extended=true"),
        ("https://api.acme.example/v1/", "", "https://api.acme.example/v1/models?extended=true"),
        # the manifest schema trims baseUrl (PD:22); new URL() reads https:host as https://host
        (" https://api.acme.example/v1 ", None, "https://api.acme.example/v1/models?extended=true"),
        ("https:api.acme.example/v1", None, "https://api.acme.example/v1/models?extended=true"),
    ],
)
def test_extended_models_url(base: str, endpoint: str | None, expected: str) -> None:
    assert urls.extended_models_url(base, endpoint) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.acme.example/v1", None),
        ("http://[::1]:8080/v1", None),
        ("ftp://api.acme.example/v1", "its scheme is 'ftp'"),
        ("localhost:8080/v1", "its scheme is 'localhost'"),
        ("https://${ACME_HOST}/v1", "is no DNS name"),
    ],
)
def test_what_an_http_client_cannot_fetch(url: str, problem: str | None) -> None:
    found = urls.fetch_problem(url)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://api.acme.example/v1", None),
        ("api.acme.example/v1", "not absolute"),
        ("ftp://acme.example", "scheme is 'ftp'"),
        ("https://", "no host"),
        ("https://acme example.com", "characters"),
        ("https://acme.example:99999", "does not parse"),
        (" https://acme.example", None),
    ],
)
def test_url_problem(value: str, problem: str | None) -> None:
    found = urls.url_problem(value)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_trailing_space_is_kept_by_concatenation() -> None:
    assert urls.has_trailing_space("https://acme.example/v1 ")
    assert not urls.has_trailing_space(" https://acme.example/v1")


def test_any_scheme_is_a_url_when_no_scheme_is_required() -> None:
    assert urls.url_problem("mailto:ai@acme.example", schemes=None) is None
    assert urls.url_problem("acme.example", schemes=None) is not None


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:8080", True),
        ("http://127.0.0.1", True),
        ("http://10.1.2.3", True),
        ("http://192.168.0.2", True),
        ("http://[::1]:80", True),
        ("http://api.acme.example", False),
        ("http://8.8.8.8", False),
    ],
)
def test_is_local_host(url: str, local: bool) -> None:
    assert urls.is_local_host(url) is local


def test_endpoint_suffix_and_version() -> None:
    assert urls.endpoint_suffix("https://a.example/v1/chat/completions/") == "/chat/completions"
    assert urls.endpoint_suffix("https://a.example/v1") is None
    assert urls.has_version_segment("https://a.example/api/v1beta")
    assert not urls.has_version_segment("https://a.example/api")


def test_origin_makes_default_ports_explicit() -> None:
    assert urls.origin("https://A.example/v1") == urls.origin("https://a.example:443/x")
    assert urls.origin("http://a.example") != urls.origin("https://a.example")

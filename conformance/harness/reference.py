"""The reference loader behind the loader protocol: ``python -m conformance.loader``.

It fetches for real (httpx, synchronously, with timeouts) from the URLs a request names, as the Provider Defined
client does: the manifest with the user's headers only; the extended model list, at the URL derived from
``baseUrl`` (``conformance.urls``), with the manifest's headers, the user's and ``Authorization: Bearer`` unless
one of them already sets Authorization (PD:127-151); a models.dev catalog with the user's headers and no key
(PD:285). It maps with ``conformance.loader``, so its answers are the corpus's.

httpx is imported, and its client made, on the first fetch, and the certificate-checking transport on the first
https request: a process per request is how many loaders run, and embedded requests fetch nothing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from conformance import jsondoc, kilo_code, loader, urls
from conformance.errors import LoaderError
from conformance.harness.protocol import accepted, refused, serve
from conformance.settings import MODELS_DEV_URL

if TYPE_CHECKING:
    import httpx

FETCH_TIMEOUT_S = 10.0
USER_AGENT = "provider-conformance-reference-loader"


class _LazyTls:
    """httpx's default, certificate-checking transport, made on the first https request: loading the CA bundle
    takes tens of milliseconds, and requests to the harness's loopback server are plain http."""

    def __init__(self) -> None:
        self._transport: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import httpx

        if self._transport is None:
            self._transport = httpx.HTTPTransport()
        return self._transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Fetcher:
    """GETs JSON documents for a run of requests, through one HTTP client made when first needed."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None

    def raw(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """The status and body of a GET (status 0 when the request failed), within the size cap."""
        try:
            response, body = self._fetch(url, headers)
        except LoaderError:
            return 0, b""
        return response.status_code, body

    def _fetch(self, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        import httpx

        if self._client is None:
            self._client = httpx.Client(
                transport=_LazyTls(),
                mounts={"http://": httpx.HTTPTransport(verify=False)},  # plain http: no certificate to check
                timeout=FETCH_TIMEOUT_S,
                follow_redirects=True,
                trust_env=False,
                headers={"user-agent": USER_AGENT},
            )
        body = bytearray()
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > jsondoc.DEFAULT_MAX_BYTES:
                        break
        except (httpx.HTTPError, ValueError) as exc:
            raise LoaderError("fetch", f"GET {url} failed: {exc}", stage="fetch") from None
        return response, bytes(body)

    def get(self, url: str, headers: dict[str, str]) -> Any:
        """A JSON document, read strictly and within the size cap; a failed fetch is a ``fetch`` refusal."""
        response, body = self._fetch(url, headers)
        if not response.is_success:
            raise LoaderError("fetch", f"GET {url} answered HTTP {response.status_code}", stage="fetch")
        try:
            return jsondoc.read(body).value
        except LoaderError as exc:  # axios hands the client's schema the text, which it refuses
            raise LoaderError(exc.code, f"GET {url}: {exc.message}", exc.pointer, "schema") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def extended_headers(manifest: dict[str, str], user: dict[str, str], api_key: str | None) -> dict[str, str]:
    """``normalizeHeaders`` (PD:127-151): the manifest's headers, then the user's (winning on a clash), names in
    lower case, then ``Authorization: Bearer <key>`` only when there is a key and neither set Authorization."""
    headers = {name.lower(): value for name, value in manifest.items()}
    headers |= {name.lower(): value for name, value in user.items()}
    if api_key and "authorization" not in headers:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _models(request: dict[str, Any], fetch: Fetcher) -> dict[str, loader.ClientModel]:
    if request["kind"] == "embedded":
        return loader.load_embedded(request["raw"]).models
    if request["kind"] == "models_dev":
        return loader.parse_models_dev(fetch.get(request["catalog_url"], {}), request["provider_id"])
    user = dict(request["headers"])
    value = fetch.get(request["manifest_url"], user)
    manifest = loader.parse_manifest(value)
    if manifest.models_data_source == "models_dev":
        catalog = fetch.get(request.get("models_dev_url", MODELS_DEV_URL), user)
        assert manifest.models_dev_provider_id  # parse_manifest requires it for models_dev
        return loader.parse_models_dev(catalog, manifest.models_dev_provider_id)
    for problem in loader.fetch_problems(value):
        raise problem.error()
    headers = extended_headers(manifest.headers, user, request.get("api_key"))
    return loader.parse_extended(fetch.get(manifest.extended_models_url, headers))


def discover(request: dict[str, Any], fetch: Fetcher) -> dict[str, Any]:
    """Shipping Kilo Code's model discovery (``conformance.kilo_code``): never a refusal, at worst no model."""
    url = kilo_code.discovery_url(request["base_url"])
    if url is None or urls.fetch_problem(url):
        return accepted({})
    headers = kilo_code.discovery_headers(request.get("headers", {}), request.get("api_key"))
    status, body = fetch.raw(url, headers)
    return accepted(kilo_code.discovered(status, body))


def answer(request: dict[str, Any], fetch: Fetcher) -> dict[str, Any]:
    """The protocol response for one (valid) request."""
    if request["kind"] == "discover":
        return discover(request, fetch)
    try:
        models = _models(request, fetch)
    except LoaderError as exc:
        return refused(str(exc), exc.code, exc.stage)
    return accepted({model_id: model.to_json() for model_id, model in models.items()})


def main() -> None:
    """Answer request lines on stdin until it ends."""
    fetch = Fetcher()
    try:
        serve(lambda request: answer(request, fetch), sys.stdin.buffer, sys.stdout)
    finally:
        fetch.close()

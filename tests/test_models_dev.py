"""A hosted manifest that says models_dev: its models come from a models.dev catalog (MDV-*)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conformance import loader
from tests.conftest import outcomes, run, shared_file

pytest_plugins = ["pytester"]


@pytest.fixture
def manifest_server() -> Iterator[dict[str, Any]]:
    """A loopback server for one manifest, which the test fills in before the run."""
    served: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served["manifest"]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1/models?provider=true"
    yield served
    server.shutdown()
    thread.join()


def test_a_provider_of_the_real_catalog_is_read_from_it(
    pytester: pytest.Pytester, manifest_server: dict[str, Any]
) -> None:
    path = shared_file("models.dev", "api.json")
    catalog = json.loads(path.read_text(encoding="utf-8"))
    provider_id = next(p for p, entry in catalog.items() if entry.get("api") and entry.get("models"))
    manifest_server["manifest"] = {
        "name": "Catalogued",
        "website": "https://catalogued.example",
        "baseUrl": "http://127.0.0.1:9/v1",
        "models_data_source": "models_dev",
        "models_dev_provider_id": provider_id,
    }
    result, data = run(pytester, f"--provider-url={manifest_server['url']}", f"--models-dev={path}", "-m", "catalog")
    assert result.ret == 0, result.stdout.str()
    assert {"MDV-001", "MDV-002"} <= outcomes(data, "passed")
    assert "MDV-003" in outcomes(data, "warned")  # the catalog's api is the real provider's, not this loopback one
    assert not any(r["id"].startswith("EXT-") for r in data["results"])


def test_a_provider_missing_from_the_catalog_fails_mdv_001(
    pytester: pytest.Pytester, manifest_server: dict[str, Any]
) -> None:
    path = shared_file("models.dev", "api.json")
    manifest_server["manifest"] = {
        "name": "Nowhere",
        "website": "https://nowhere.example",
        "baseUrl": "http://127.0.0.1:9/v1",
        "models_data_source": "models_dev",
        "models_dev_provider_id": "no-such-provider",
    }
    result, data = run(pytester, f"--provider-url={manifest_server['url']}", f"--models-dev={path}", "-m", "catalog")
    assert result.ret == 1
    assert outcomes(data, "failed") == {"MDV-001"}


def test_every_model_of_the_real_catalog_has_the_types_the_client_reads() -> None:
    catalog = json.loads(shared_file("models.dev", "api.json").read_text(encoding="utf-8"))
    problems = [
        (provider_id, p.message)
        for provider_id, entry in catalog.items()
        for model_id, model in entry["models"].items()
        for p in loader.model_problems(model_id, model, pointer="")
    ]
    assert problems == []


def test_models_dev_alone_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--models-dev=api.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --models-dev names the catalog a --provider-url manifest*"])

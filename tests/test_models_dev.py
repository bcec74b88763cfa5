"""A hosted manifest that says models_dev: its models come from a models.dev catalog (MDV-*)."""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import jsondoc, loader, runner, schemas
from conformance.findings import Outcome
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from conformance.target import CatalogContext, Part
from tests.conftest import JSON, outcomes, run, shared_file

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


def test_models_dev_provider_needs_a_catalog(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--models-dev-provider=acme")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --models-dev-provider narrows a --models-dev catalog*"])


def test_the_real_catalog_has_no_must_failure_one_row_per_provider(pytester: pytest.Pytester) -> None:
    path = shared_file("models.dev", "api.json")
    providers = json.loads(path.read_text(encoding="utf-8"))
    result, data = run(pytester, f"--models-dev={path}")
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert outcomes(data, "failed", "error") == set()
    for check_id in ("MDV-001", "MDV-002", "MDV-005", "MDV-006"):
        assert {r["subject"] for r in data["results"] if r["id"] == check_id} == set(providers)
    warned = " ".join(r["message"] for r in data["results"] if r["id"] == "MDV-006" and r["outcome"] == "warned")
    assert "is above limit.context" in warned and "not a calendar date" in warned
    assert "is before release_date" in warned and "surrounding whitespace" in warned


def test_one_provider_of_a_catalog(pytester: pytest.Pytester) -> None:
    path = shared_file("models.dev", "api.json")
    _, data = run(pytester, f"--models-dev={path}", "--models-dev-provider=openai")
    assert {r["subject"] for r in data["results"] if r["id"].startswith("MDV-")} == {"openai"}
    result, data = run(pytester, f"--models-dev={path}", "--models-dev-provider=no-such-provider")
    assert result.ret == 1 and outcomes(data, "failed") == {"MDV-001"}


def _catalog(**model_changes: Any) -> dict[str, Any]:
    model = {
        "id": "m",
        "name": "M",
        "attachment": False,
        "reasoning": False,
        "tool_call": True,
        "release_date": "2025-01-01",
        "last_updated": "2025-02-01",
        "open_weights": False,
        "modalities": {"input": ["text"], "output": ["text"]},
        "limit": {"context": 1000, "output": 100},
        "cost": {"input": 1, "output": 2},
        **model_changes,
    }
    return {
        "acme": {
            "id": "acme",
            "env": ["ACME_API_KEY"],
            "npm": "@ai-sdk/openai-compatible",
            "api": "https://api.acme.example/v1",
            "name": "Acme",
            "doc": "https://acme.example/docs",
            "models": {"m": model},
        }
    }


@pytest.mark.parametrize(
    ("catalog", "says"),
    [
        (_catalog(reasoning_options=[{"type": "toggle"}]), "reasoning_options given although reasoning is false"),
        (_catalog(reasoning=True), "'reasoning_options' is a required property"),
        (_catalog(release_date="2025-01-01\n"), "does not match"),
        (_catalog(colour="red"), "(this object takes no unknown keys)"),
        (_catalog(interleaved=False), "interleaved"),
        (_catalog(cost={"input": 1, "output": 2, "reasoning": 3}), "cost"),
        (_catalog(limit={"context": -1, "output": 10}), "limit.context"),
        (_catalog(reasoning=True, reasoning_options=[{"type": "effort", "values": ["turbo"]}]), "reasoning_options"),
        ({"acme": {**_catalog()["acme"], "npm": "@ai-sdk/google"}}, "`api` is not allowed with npm '@ai-sdk/google'"),
        ({"acme": {k: v for k, v in _catalog()["acme"].items() if k != "api"}}, "'api' is a required property"),
    ],
)
def test_schema_violations_are_mdv_002_findings_with_pointers(
    pytester: pytest.Pytester, catalog: Any, says: str
) -> None:
    source = pytester.path / "api.json"
    source.write_text(json.dumps(catalog))
    result, data = run(pytester, f"--models-dev={source}")
    assert result.ret == 1
    assert outcomes(data, "failed") == {"MDV-002"}
    finding = next(r for r in data["results"] if r["id"] == "MDV-002")
    assert says in finding["message"], finding["message"]
    assert all(f["pointer"].startswith("/acme") for f in finding["findings"])


def test_cross_field_rules_are_mdv_005(pytester: pytest.Pytester) -> None:
    catalog = _catalog(reasoning=True, reasoning_options=[{"type": "budget_tokens", "min": 9000, "max": 10}])
    catalog["twin"] = {**catalog["acme"], "id": "twin", "name": "ACME"}
    catalog["acme"]["id"] = "acme-2"
    source = pytester.path / "api.json"
    source.write_text(json.dumps(catalog))
    _, data = run(pytester, f"--models-dev={source}")
    message = next(r["message"] for r in data["results"] if r["id"] == "MDV-005" and r["subject"] == "acme")
    assert "has id 'acme-2'" in message and "also the name of twin" in message and "min 9000 is above max 10" in message


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"[1, 2]", "the catalog is an array"), (b"{", "not valid JSON"), (b"x" * (2 << 20), "larger than the 1 MiB cap")],
    ids=["a-list", "broken-json", "too-large"],
)
def test_a_catalog_that_is_not_one_is_a_clear_finding(pytester: pytest.Pytester, content: bytes, says: str) -> None:
    (pytester.path / "api.json").write_bytes(content)
    result, data = run(pytester, "--models-dev=api.json", "--max-body-mb=1")
    assert result.ret == 1
    assert outcomes(data, "failed") == {"MDV-001"}
    assert says in next(r["message"] for r in data["results"] if r["id"] == "MDV-001")
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("faults", "outcome"), [("models-dev-source", "passed"), ("models-dev-api-mismatch", "failed")]
)
def test_a_registry_is_checked_live_at_each_providers_api_when_a_key_is_given(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, faults: str, outcome: str
) -> None:
    with ReferenceServer(ReferenceConfig(faults=frozenset({faults}))) as server:
        monkeypatch.setenv("PROVIDER_API_KEY", REFERENCE_KEY)
        _, data = run(pytester, f"--models-dev={server.origin}/api.json", "--models-dev-provider=reference")
    live = [r for r in data["results"] if r["id"] == "MDV-007"]
    assert [(r["subject"], r["outcome"]) for r in live] == [("reference", outcome)]


def test_without_a_key_a_registry_is_only_validated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVIDER_API_KEY", raising=False)
    with ReferenceServer(ReferenceConfig(faults=frozenset({"models-dev-source"}))) as server:
        _, data = run(pytester, f"--models-dev={server.origin}/api.json", "--models-dev-provider=reference")
    assert "MDV-007" not in {r["id"] for r in data["results"]}


def test_the_compiled_schema_changes_no_verdict_on_the_real_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled schema only clears providers that pass: with the reference validator deciding every provider
    alone, each result on the real catalog is the same, finding for finding."""
    catalog = json.loads(shared_file("models.dev", "api.json").read_text(encoding="utf-8"))
    compiled = runner.evaluate(CatalogContext.from_catalog(Part(catalog)))
    monkeypatch.setattr(schemas, "fast", lambda name, definition: lambda value: False)
    reference = runner.evaluate(CatalogContext.from_catalog(Part(catalog)))
    assert compiled == reference
    assert {r.check_id for r in compiled if r.findings} >= {"MDV-004", "MDV-006"}


def test_the_compiled_schema_agrees_with_the_reference_on_real_models_broken_each_way() -> None:
    """The real catalog is valid, so the verdicts above could hide a compiled schema that accepts too much: here
    the first model of every provider is broken each way a field can be (left out, null, a string, an unknown key
    beside it, reasoning flipped), and the two validators agree on every variant."""
    catalog = json.loads(shared_file("models.dev", "api.json").read_text(encoding="utf-8"))
    compiled = schemas.fast("models-dev-api", "model")
    reference = schemas.validator("models-dev-api", "/definitions/model")
    variants = []
    for provider in catalog.values():
        model = next(iter(provider["models"].values()))
        variants += [model, {**model, "colour": "red"}, {**model, "reasoning": not model["reasoning"]}]
        for key in model:
            variants += [{k: v for k, v in model.items() if k != key}, {**model, key: None}, {**model, key: "x"}]
    verdicts = [(compiled(v), reference.is_valid(v)) for v in variants]
    assert [c for c, _ in verdicts] == [r for _, r in verdicts]
    assert {r for _, r in verdicts} == {True, False}


def test_a_number_beyond_a_double_is_judged_by_the_reference_validator() -> None:
    """1e400 reads as Infinity (as JSON.parse reads it), which the compiled schema cannot take: the reference
    validator decides, and a provider whose only oddity that is passes MDV-002 rather than failing or erroring."""
    text = json.dumps(_catalog()).replace('"context": 1000', '"context": 1e400')
    context = CatalogContext.from_catalog(Part(jsondoc.read(text).value))
    assert not schemas.fast("models-dev-api", "provider")(context.models_dev.value["acme"])
    results = {r.check_id: r for r in runner.evaluate(context)}
    assert results["MDV-002"].outcome is Outcome.PASSED, results["MDV-002"]


def test_a_date_that_is_not_one_is_a_finding_not_an_error() -> None:
    """MDV-006 reads dates the schema has already refused: a bare year is a quirk to report, never a crash."""
    results = runner.evaluate(CatalogContext.from_catalog(Part(_catalog(knowledge="2024", last_updated="soon"))))
    said = next(r for r in results if r.check_id == "MDV-006")
    assert said.outcome is Outcome.WARNED, said
    assert [f.message for f in said.findings] == [
        "m: last_updated 'soon' is not a calendar date",
        "m: knowledge '2024' is not a calendar date",
    ]


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [here] + [path for key, child in children for path in _paths(child, (*here, key))]


RICH = _catalog(
    reasoning=True,
    reasoning_options=[{"type": "budget_tokens", "min": 1024, "max": 8192}],
    cost={"input": 1, "output": 2, "tiers": [{"tier": {"type": "context", "size": 200000}, "input": 2, "output": 4}]},
    knowledge="2024-10",
)


@given(st.data())
def test_any_value_anywhere_in_a_provider_is_a_finding_never_an_error(data: st.DataObject) -> None:
    """A hostile catalog gets a verdict from every MDV check: whatever one field of a provider or its model holds
    (a list for ``modalities``, a number for ``reasoning_options``), the checks beside the schema read past it."""
    catalog = copy.deepcopy(RICH)
    path = data.draw(st.sampled_from(_paths(catalog["acme"])))
    if path:
        parent = functools.reduce(lambda node, key: node[key], path[:-1], catalog["acme"])
        parent[path[-1]] = data.draw(JSON)
    else:
        catalog["acme"] = data.draw(JSON)
    errors = [r for r in runner.evaluate(CatalogContext.from_catalog(Part(catalog))) if r.outcome is Outcome.ERROR]
    assert not errors, [(r.check_id, r.note) for r in errors]

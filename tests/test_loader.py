"""The reference loader: what a Provider Defined client accepts, refuses and shows."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from conformance import loader, runner, schemas
from conformance.errors import LoaderError
from conformance.findings import Outcome
from conformance.target import CatalogContext
from tests.conftest import GOOD_MANIFEST, GOOD_MODEL, JSON, embedded, shared_file


def test_maps_a_model_as_the_client_shows_it() -> None:
    model = loader.map_model(
        "acme/coder", {**GOOD_MODEL, "attachment": True, "modalities": {"input": ["text", "image"], "output": ["text"]}}
    )
    assert model.to_json() == {
        "contextWindow": 128000,
        "maxTokens": 8192,
        "supportsImages": True,
        "supportsPromptCache": True,
        "inputPrice": 0.5,
        "outputPrice": 1.5,
        "displayName": "Acme Coder",
    }


def test_max_tokens_falls_back_to_the_context_window() -> None:
    model = loader.map_model("m", {"limit": {"context": 32000}})
    assert (model.context_window, model.max_tokens) == (32000, 32000)


def test_unknown_values_are_omitted_and_the_id_is_the_fallback_name() -> None:
    assert loader.map_model("m", {}).to_json() == {
        "supportsImages": False,
        "supportsPromptCache": False,
        "displayName": "m",
    }


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ({"name": ""}, ""),  # name ?? …: an empty name is not nullish (PD:212)
        ({"display_name": "Shown"}, "Shown"),
        ({"id": "acme/other"}, "acme/other"),
        ({"name": "N", "display_name": "D", "id": "I"}, "N"),
    ],
)
def test_the_display_name_is_name_then_display_name_then_id_then_the_key(entry: dict[str, Any], shown: str) -> None:
    assert loader.map_model("m", entry).display_name == shown


@pytest.mark.parametrize(
    ("entry", "images", "cache"),
    [
        ({"modalities": {"input": ["Image"]}}, True, False),
        ({"modalities": {"output": ["image"]}}, True, False),
        ({"modalities": {"input": ["text"], "output": ["text"]}}, False, False),
        ({"cost": {"cache_read": 0}}, False, True),
        ({"cost": {"cache_write": 1.5}}, False, True),
        ({"supports_prompt_cache": True}, False, True),
        ({"supports_prompt_cache": "yes"}, False, False),
        ({"attachment": True}, False, True),
    ],
)
def test_images_and_prompt_caching_follow_the_clients_rules(entry: dict[str, Any], images: bool, cache: bool) -> None:
    model = loader.map_model("m", entry)
    assert (model.supports_images, model.supports_prompt_cache) == (images, cache)


def test_a_number_beyond_a_double_is_read_as_infinity_and_left_out_of_the_answer() -> None:
    provider = loader.load_embedded(
        json.dumps(embedded(models={"m": {"limit": {"output": 1}}})).replace("1}", "1e400}")
    )
    assert provider.models["m"].max_tokens == float("inf")
    assert "maxTokens" not in provider.models["m"].to_json()


@pytest.mark.parametrize(
    "raw",
    ["\ufeff" + json.dumps(embedded()), "  \n" + json.dumps(embedded()) + "\n ", "\xa0" + json.dumps(embedded())],
)
def test_pasted_text_is_trimmed_as_javascript_trims_it(raw: str) -> None:
    assert set(loader.load_embedded(raw).models) == set(embedded()[1]["models"])


@pytest.mark.parametrize(
    ("document", "code", "pointer"),
    [
        ({"a": 1}, "embedded-shape", ""),
        ([GOOD_MANIFEST], "embedded-shape", ""),
        (
            [{**GOOD_MANIFEST, "models_data_source": "endpoint"}, {"models": {}}],
            "manifest-source",
            "/0/models_data_source",
        ),
        ([{**GOOD_MANIFEST, "headers": {"X-Key": 1}}, {"models": {}}], "manifest-headers", "/0/headers/X-Key"),
        (embedded(models={"m": {"limit": {"context": "128000"}}}), "model-type", "/1/models/m/limit/context"),
        (embedded(models={"m": {"reasoning": "true"}}), "model-type", "/1/models/m/reasoning"),
        (embedded(models={"m": {"cost": None}}), "model-type", "/1/models/m/cost"),
        (embedded(models={"a/b": "not an object"}), "model-not-object", "/1/models/a~1b"),
    ],
)
def test_refuses_with_a_code_and_a_pointer(document: Any, code: str, pointer: str) -> None:
    with pytest.raises(LoaderError) as caught:
        loader.load_embedded(json.dumps(document))
    assert (caught.value.code, caught.value.pointer) == (code, pointer)


def test_json_errors_name_the_embedded_json() -> None:
    with pytest.raises(LoaderError, match="embedded provider JSON is not valid JSON: NaN"):
        loader.load_embedded('[{"a": NaN}]')


def test_models_dev_manifests_need_the_provider_id() -> None:
    manifest = {**GOOD_MANIFEST, "models_data_source": "models_dev"}
    with pytest.raises(LoaderError, match="models_dev_provider_id is required"):
        loader.parse_manifest(manifest)
    parsed = loader.parse_manifest({**manifest, "models_dev_provider_id": "acme"})
    assert parsed.models_dev_provider_id == "acme"


def test_hosted_manifests_derive_the_extended_url() -> None:
    manifest = loader.parse_manifest(
        {**GOOD_MANIFEST, "models_data_source": "endpoint", "baseUrl": "https://api.acme.example/v1/"}
    )
    assert manifest.extended_models_url == "https://api.acme.example/v1/models?extended=true"


@pytest.mark.parametrize("name", ["kilo_provider_defined_embedded_docs_example.json"])
def test_the_docs_embedded_example_loads(name: str) -> None:
    provider = loader.load_embedded(shared_file("samples", name).read_bytes())
    assert set(provider.models) == {"provider/model-name-v1", "provider/another-model-v2"}
    assert provider.models["provider/model-name-v1"].max_tokens == 4096


def test_the_docs_hosted_examples_load_to_the_same_models_as_the_embedded_one() -> None:
    manifest = json.loads(shared_file("samples", "kilo_provider_defined_manifest_docs_example.json").read_text())
    extended = json.loads(shared_file("samples", "kilo_provider_defined_extended_models_docs_example.json").read_text())
    hosted = loader.load_hosted(manifest, extended)
    pasted = loader.load_embedded(
        shared_file("samples", "kilo_provider_defined_embedded_docs_example.json").read_bytes()
    )
    assert hosted.models == pasted.models


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("vllm_v1_models.json", "this is an OpenAI model list, not an extended-models response"),
        ("lmstudio_api_v0_models_docs_example.json", "this is an OpenAI model list"),
        ("openrouter_api_v1_models.json", "this is an OpenAI-style {data: [...]} list"),
        ("synthetic_openai_v1_models_2026-01-30.json", "this is an OpenAI-style {data: [...]} list"),
        ("ollama_api_tags_local.json", "looks like an Ollama /api/tags body"),
        ("ollama_api_tags_cloud.json", "looks like an Ollama /api/tags body"),
    ],
)
def test_real_model_lists_given_as_extended_models_are_named(name: str, says: str) -> None:
    """An OpenAI list has no `models`: the client loads it with no model (PD:89), and EXT-002 names it; an Ollama
    body's `models` is an array, which the client refuses (EXT-001)."""
    value = json.loads(shared_file("samples", name).read_text(encoding="utf-8"))
    results = runner.evaluate(CatalogContext.from_embedded(json.dumps([GOOD_MANIFEST, value])))
    failed = {r.check_id for r in results if r.outcome is Outcome.FAILED}
    if "Ollama" in says:
        with pytest.raises(LoaderError) as caught:
            loader.parse_extended(value)
        assert says in caught.value.message
        assert failed == {"EXT-001", "EMB-004"}
    else:
        assert loader.parse_extended(value) == {}
        assert failed == {"EXT-002", "EMB-004"}
    check_id = "EXT-001" if "Ollama" in says else "EXT-002"
    assert says in next(r for r in results if r.check_id == check_id).findings[0].message


def _no_crash(raw: str | bytes) -> None:
    try:
        loader.load_embedded(raw)
    except LoaderError as exc:
        assert exc.code
    errors = [r for r in runner.evaluate(CatalogContext.from_embedded(raw)) if r.outcome is Outcome.ERROR]
    assert errors == []


@given(JSON)
def test_arbitrary_json_gives_models_or_a_loader_error(value: Any) -> None:
    _no_crash(json.dumps(value))


@given(st.binary(max_size=256))
def test_arbitrary_bytes_give_models_or_a_loader_error(raw: bytes) -> None:
    _no_crash(raw)


FIELD_PATHS = [(key,) for key in loader.MODEL_FIELDS] + [
    (key, inner) for key, wanted in loader.MODEL_FIELDS.items() if isinstance(wanted, dict) for inner in wanted
]


@st.composite
def model_entries(draw: st.DrawFn) -> Any:
    """A good model entry with one field (or one field inside ``cost``, ``limit``, ``modalities``) set to any
    JSON value, or any JSON value as the whole entry."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    entry = copy.deepcopy(GOOD_MODEL)
    *parents, key = draw(st.sampled_from(FIELD_PATHS))
    (entry[parents[0]] if parents else entry)[key] = draw(JSON)
    return entry


@given(model_entries())
def test_the_compiled_model_types_agree_with_the_field_by_field_reading(entry: Any) -> None:
    """EXT-003 clears an entry with ``MODEL_FIELDS`` compiled; it must clear exactly what the field-by-field
    reading, which explains a refusal, finds nothing wrong with."""
    walked = list(loader.type_problems("m", entry, pointer="/models/m"))
    assert list(loader.model_problems("m", entry, pointer="/models/m")) == walked


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        out += _paths(child, (*here, key))
    return out


@given(st.data())
def test_mutated_valid_payloads_give_models_or_a_loader_error(data: st.DataObject) -> None:
    document: Any = embedded(models={"acme/coder": GOOD_MODEL, "acme/mini": {**GOOD_MODEL, "id": "acme/mini"}})
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(document)))
        if not path:
            document = data.draw(JSON)
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    _no_crash(json.dumps(document))


MANIFESTS = from_schema(schemas.load("manifest"))
EXTENDED = from_schema(schemas.load("extended-models"))


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(MANIFESTS, EXTENDED)
def test_documents_generated_from_the_schemas_load_alike_in_both_forms(
    manifest: dict[str, Any], extended: dict[str, Any]
) -> None:
    """The schemas describe the documents' shape; a URL the shape admits may still be one ``new URL()`` refuses
    (``HTTP://A.0``: a host ending in a number is read as IPv4). Whatever the outcome, the pasted and the hosted
    forms of one provider reach the same one: the same models, or the same refusal."""
    pasted = [{**manifest, "models_data_source": "embedded"}, extended]
    assert schemas.validator("embedded").is_valid(pasted)
    try:
        embedded_models = loader.load_embedded(json.dumps(pasted)).models
    except LoaderError as refused:
        with pytest.raises(LoaderError) as hosted_refusal:
            loader.load_hosted({**manifest, "models_data_source": "endpoint"}, extended)
        assert (refused.code, refused.stage) == (hosted_refusal.value.code, hosted_refusal.value.stage)
        return
    hosted_models = loader.load_hosted({**manifest, "models_data_source": "endpoint"}, extended).models
    assert set(embedded_models) == set(extended["models"])
    assert embedded_models == hosted_models

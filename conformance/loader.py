"""The reference loader: what a Provider Defined client makes of a provider's published data.

It parses embedded JSON, a hosted manifest and an extended-models response, refuses them exactly where the
client would (``LoaderError`` with a stable code, a message and a JSON pointer), and maps each model to what
the client shows. It knows nothing of verdicts or pytest: the checks read its ``*_problems`` generators, which
are the one statement of each rule, and the loader raises the first problem of each.

Mapping (the client's documented behaviour)::

    contextWindow        = limit.context
    maxTokens            = limit.output ?? limit.context
    supportsImages       = "image" in modalities.input
    supportsPromptCache  = attachment           (a quirk of the client: caching follows the attachment flag)
    inputPrice           = cost.input           (USD per million tokens, as published)
    outputPrice          = cost.output
    displayName          = name, or the model id when name is absent or empty

A value the data does not give is left out, and the client falls back to its own default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema

from conformance import jsondoc, schemas, urls
from conformance.errors import LoaderError
from conformance.findings import ABSENT, Finding

HOSTED_SOURCES = ("endpoint", "models_dev")
ALL_SOURCES = (*HOSTED_SOURCES, "embedded")
_JSON_TYPE = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def json_type(value: Any) -> str:
    """The JSON type of a Python value, in words."""
    if isinstance(value, bool | str | list | dict) or value is None:
        return _JSON_TYPE[type(value)]
    return "a number" if isinstance(value, int | float) else type(value).__name__


@dataclass(frozen=True)
class Problem(Finding):
    """A finding the reference loader raises on: ``code`` is stable across releases."""

    code: str = ""

    def error(self) -> LoaderError:
        return LoaderError(self.code, self.message, self.pointer or "")


@dataclass(frozen=True)
class Manifest:
    name: str
    website: str
    base_url: str
    models_data_source: str
    models_dev_provider_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    models_endpoint: str | None = None

    @property
    def extended_models_url(self) -> str:
        return urls.extended_models_url(self.base_url, self.models_endpoint)


@dataclass(frozen=True)
class ClientModel:
    """One model as the client shows it; ``None`` means the client falls back to its default."""

    id: str
    display_name: str
    context_window: float | None = None
    max_tokens: float | None = None
    supports_images: bool = False
    supports_prompt_cache: bool = False
    input_price: float | None = None
    output_price: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The loader protocol's normalized form: camelCase, unknown values omitted."""
        out = {
            "contextWindow": self.context_window,
            "maxTokens": self.max_tokens,
            "supportsImages": self.supports_images,
            "supportsPromptCache": self.supports_prompt_cache,
            "inputPrice": self.input_price,
            "outputPrice": self.output_price,
            "displayName": self.display_name,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Provider:
    manifest: Manifest
    models: dict[str, ClientModel]


def _string_field(
    obj: dict[str, Any], key: str, pointer: str, code: str, *, required: bool, what: str
) -> Iterator[Problem]:
    if key not in obj:
        if required:
            yield Problem(f"`{key}` is missing", pointer, f"{what}", ABSENT, f"add `{key}`", code=code)
        return
    value = obj[key]
    if not isinstance(value, str) or not value:
        fix = "remove the field or give it a value" if value is None else f"make `{key}` {what}"
        yield Problem(
            f"`{key}` is {json_type(value)}, not {what}", jsondoc.join(pointer, key), what, value, fix, code=code
        )


def manifest_problems(value: Any, *, embedded: bool, pointer: str = "") -> Iterator[Problem]:
    """Every reason the client refuses ``value`` as a manifest (hosted, or element 0 of embedded JSON)."""
    if not isinstance(value, dict):
        yield Problem(
            f"the manifest is {json_type(value)}, not a JSON object",
            pointer,
            'an object like {"name": …, "website": …, "baseUrl": …, "models_data_source": …}',
            value,
            code="manifest-not-object",
        )
        return
    yield from _string_field(value, "name", pointer, "manifest-name", required=True, what="a non-empty string")
    for key, code, schemes in (
        ("baseUrl", "manifest-base-url", ("http", "https")),
        ("website", "manifest-website", None),
    ):
        what = "an absolute http(s) URL" if schemes else "an absolute URL"
        bad = list(_string_field(value, key, pointer, code, required=True, what=what))
        if bad:
            yield from bad
            continue
        reason = urls.url_problem(value[key], schemes=schemes)
        if not reason and key == "baseUrl" and urls.has_trailing_space(value[key]):
            reason = "it ends in whitespace, which clients keep when they append /chat/completions to it"
        if reason:
            yield Problem(
                f"`{key}` {value[key]!r} is not {what}: {reason}",
                jsondoc.join(pointer, key),
                what,
                value[key],
                "write the full URL, e.g. https://api.example.com/v1" if key == "baseUrl" else None,
                code=code,
            )
    yield from _source_problems(value, embedded=embedded, pointer=pointer)
    yield from _string_field(
        value,
        "models_dev_provider_id",
        pointer,
        "manifest-models-dev-id",
        required=False,
        what="a non-empty string",
    )
    endpoint_problems = list(
        _string_field(
            value, "models_endpoint", pointer, "manifest-models-endpoint", required=False, what="a non-empty string"
        )
    )
    yield from endpoint_problems
    base, endpoint = value.get("baseUrl"), value.get("models_endpoint")
    if isinstance(endpoint, str) and not endpoint_problems and isinstance(base, str) and not urls.url_problem(base):
        _, reason = urls.resolve(base, endpoint)
        if reason:
            yield Problem(
                f"`models_endpoint` {endpoint!r} is not usable: {reason}",
                jsondoc.join(pointer, "models_endpoint"),
                "a URL, or a path that resolves against baseUrl",
                endpoint,
                code="manifest-models-endpoint",
            )
    if "headers" in value:
        headers = value["headers"]
        where = jsondoc.join(pointer, "headers")
        if not isinstance(headers, dict):
            yield Problem(
                f"`headers` is {json_type(headers)}, not an object of header names to string values",
                where,
                "an object of strings",
                headers,
                code="manifest-headers",
            )
        else:
            for name, header in headers.items():
                if not isinstance(header, str):
                    yield Problem(
                        f"header {name!r} has {json_type(header)} as its value; header values are strings",
                        jsondoc.join(where, name),
                        "a string",
                        header,
                        "quote the value",
                        code="manifest-headers",
                    )


def _source_problems(value: dict[str, Any], *, embedded: bool, pointer: str) -> Iterator[Problem]:
    where = jsondoc.join(pointer, "models_data_source")
    allowed = ("embedded",) if embedded else HOSTED_SOURCES
    source = value.get("models_data_source", ABSENT)
    if source in allowed:
        if source == "models_dev" and "models_dev_provider_id" not in value:
            yield Problem(
                "models_dev_provider_id is required when models_data_source is 'models_dev'",
                pointer,
                "a models.dev provider id",
                ABSENT,
                "add `models_dev_provider_id` naming the provider's key in the models.dev catalog",
                code="manifest-models-dev-id",
            )
        return
    expected = " or ".join(repr(s) for s in allowed)
    if embedded:
        message = "embedded provider JSON must set models_data_source to 'embedded'"
    elif source == "embedded":
        message = "a hosted manifest cannot use models_data_source 'embedded' (that is for pasted JSON)"
    else:
        message = f"models_data_source must be {expected}"
    yield Problem(message, where, expected, source, f"set models_data_source to {expected}", code="manifest-source")


def extended_problems(value: Any, *, pointer: str = "") -> Iterator[Problem]:
    """Every reason the client refuses ``value`` as an extended-models response, model types aside."""
    fix = 'serve {"models": {"<model id>": {...}}} (an object keyed by model id) at {baseUrl}/models?extended=true'
    if isinstance(value, dict) and isinstance(value.get("data"), list) and "models" not in value:
        what = "an OpenAI model list" if value.get("object") == "list" else "an OpenAI-style {data: [...]} list"
        yield Problem(
            f"this is {what}, not an extended-models response: clients read `models`, an object keyed by model "
            "id, with the catalog fields (limit, cost, modalities …)",
            pointer,
            'an object with a "models" object',
            "{" + ", ".join(f'"{k}": …' for k in value) + "}",
            fix,
            code="openai-model-list",
        )
        return
    if not isinstance(value, dict):
        yield Problem(
            f"the extended-models response is {json_type(value)}, not a JSON object",
            pointer,
            'an object with a "models" object',
            value,
            fix,
            code="extended-not-object",
        )
        return
    models = value.get("models", ABSENT)
    if not isinstance(models, dict):
        hint = " (this looks like an Ollama /api/tags body)" if isinstance(models, list) else ""
        found = "missing" if models is ABSENT else json_type(models)
        yield Problem(
            f"`models` is {found}, not an object keyed by model id{hint}",
            jsondoc.join(pointer, "models"),
            "an object keyed by model id",
            models,
            fix,
            code="models-not-object",
        )


_TYPE_WORDS = {
    "boolean": "a boolean",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def model_problems(model_id: str, entry: Any, *, pointer: str) -> Iterator[Problem]:
    """Every field of one model entry whose type makes the client drop the model list."""
    if not isinstance(entry, dict):
        yield Problem(
            f"model {model_id!r} is {json_type(entry)}, not an object",
            pointer,
            "an object",
            entry,
            code="model-not-object",
        )
        return
    try:
        schemas.fast("extended-models", "model")(entry)
        return
    except fastjsonschema.JsonSchemaValueException:
        pass  # explain it, error by error
    errors = schemas.validator("extended-models", "/definitions/model").iter_errors(entry)
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        where = jsondoc.join(pointer, *error.absolute_path)
        field_name = ".".join(map(str, error.absolute_path)) or "the entry"
        wanted = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        found = error.instance
        if found is None:
            fix = f"leave `{field_name}` out instead of writing null"
        elif isinstance(found, str) and wanted == "a number":
            fix = "write the number without quotes"
        elif isinstance(found, str) and wanted == "a boolean":
            fix = "write true or false without quotes"
        else:
            fix = f"make `{field_name}` {wanted}"
        yield Problem(
            f"`{field_name}` is {json_type(found)}, not {wanted}", where, wanted, found, fix, code="model-type"
        )


def map_model(model_id: str, entry: dict[str, Any]) -> ClientModel:
    """What the client shows for a model entry that passed ``model_problems``."""
    limit = entry.get("limit", {})
    cost = entry.get("cost", {})
    name = entry.get("name")
    return ClientModel(
        id=model_id,
        display_name=name if name else model_id,
        context_window=limit.get("context"),
        max_tokens=limit.get("output", limit.get("context")),
        supports_images="image" in entry.get("modalities", {}).get("input", []),
        supports_prompt_cache=entry.get("attachment") is True,
        input_price=cost.get("input"),
        output_price=cost.get("output"),
    )


def parse_manifest(value: Any, *, embedded: bool = False, pointer: str = "") -> Manifest:
    """A manifest the client accepts, or ``LoaderError`` for the first reason it would not."""
    for problem in manifest_problems(value, embedded=embedded, pointer=pointer):
        raise problem.error()
    return Manifest(
        name=value["name"],
        website=value["website"],
        base_url=value["baseUrl"],
        models_data_source=value["models_data_source"],
        models_dev_provider_id=value.get("models_dev_provider_id"),
        headers=dict(value.get("headers", {})),
        models_endpoint=value.get("models_endpoint"),
    )


def parse_extended(value: Any, *, pointer: str = "") -> dict[str, ClientModel]:
    """The models the client shows for an extended-models response, or ``LoaderError``."""
    for problem in extended_problems(value, pointer=pointer):
        raise problem.error()
    models: dict[str, ClientModel] = {}
    for model_id, entry in value["models"].items():
        for problem in model_problems(model_id, entry, pointer=jsondoc.join(pointer, "models", model_id)):
            raise problem.error()
        models[model_id] = map_model(model_id, entry)
    return models


def embedded_shape_problems(value: Any) -> Iterator[Problem]:
    """Why pasted JSON is not the ``[manifest, models]`` array the client expects."""
    if not isinstance(value, list) or len(value) < 2:
        found = f"{json_type(value)}" + (f" of {len(value)} element(s)" if isinstance(value, list) else "")
        yield Problem(
            f"embedded provider JSON must be an array with [manifest, models]; found {found}",
            "",
            "[manifest, extendedModels]",
            value if not isinstance(value, dict) else "{…}",
            'wrap the manifest and the extended-models object in one array: [ {...manifest}, {"models": {...}} ]',
            code="embedded-shape",
        )


def read_embedded(raw: bytes | str, *, max_bytes: int = jsondoc.DEFAULT_MAX_BYTES) -> jsondoc.Document:
    """Strict-parse pasted JSON; ``DocumentError`` (a ``LoaderError``) says why it is not valid JSON."""
    try:
        return jsondoc.read(raw, max_bytes=max_bytes)
    except LoaderError as exc:
        exc.message = f"embedded provider JSON is not valid JSON: {exc.message}"
        exc.args = (exc.message,)
        raise


def load_embedded(raw: bytes | str, *, max_bytes: int = jsondoc.DEFAULT_MAX_BYTES) -> Provider:
    """Everything the client does with pasted JSON, with no HTTP at all."""
    value = read_embedded(raw, max_bytes=max_bytes).value
    for problem in embedded_shape_problems(value):
        raise problem.error()
    manifest = parse_manifest(value[0], embedded=True, pointer="/0")
    return Provider(manifest, parse_extended(value[1], pointer="/1"))


def parse_models_dev(catalog: Any, provider_id: str) -> dict[str, ClientModel]:
    """The models the client shows for a provider read from a models.dev ``api.json`` catalog."""
    if not isinstance(catalog, dict):
        raise LoaderError("models-dev-not-object", f"the models.dev catalog is {json_type(catalog)}, not an object")
    where = jsondoc.join("", provider_id)
    if provider_id not in catalog:
        raise LoaderError("models-dev-provider", f"models.dev response did not include provider {provider_id!r}", where)
    return parse_extended(catalog[provider_id], pointer=where)


def load_models_dev(manifest: Any, catalog: Any) -> Provider:
    """What the client makes of a ``models_dev`` manifest and the catalog it names."""
    parsed = parse_manifest(manifest)
    if parsed.models_data_source != "models_dev" or parsed.models_dev_provider_id is None:
        raise LoaderError("manifest-source", "the manifest does not say models_data_source 'models_dev'")
    return Provider(parsed, parse_models_dev(catalog, parsed.models_dev_provider_id))


def load_hosted(manifest: Any, extended: Any) -> Provider:
    """What the client makes of a hosted manifest and the extended-models response fetched for it."""
    parsed = parse_manifest(manifest)
    return Provider(parsed, parse_extended(extended))


def main() -> None:
    """``python -m conformance.loader``: the reference loader speaking the loader protocol (a JSON request per
    line on stdin, a JSON response per line on stdout), so ``--loader-cmd`` can run the corpus against it."""
    from conformance.harness.reference import main as serve_protocol

    serve_protocol()


if __name__ == "__main__":
    main()

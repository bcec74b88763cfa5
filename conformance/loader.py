"""The reference loader: what the Provider Defined client makes of a provider's published data.

The client is the loader of Kilo-Org/kilocode PR #2670 (never merged, never released), read line by line in
``src/api/providers/fetchers/provider-defined.ts`` at mcowger/kilocode abb5d48 ("PD:n" below). This module
parses embedded JSON, a hosted manifest, an extended-models response and a models.dev catalog, refuses them
exactly where that code does (``LoaderError`` with a stable code, a stage, a message and a JSON pointer), and
maps each model to what the client shows. It knows nothing of verdicts or pytest: the checks read its
``*_problems`` generators, which are the one statement of each rule, and the loader raises the first problem of
each.

Mapping (``toModelInfo``, PD:177-216)::

    contextWindow        = limit.context
    maxTokens            = limit.output ?? limit.context
    supportsImages       = "image" in modalities.input or modalities.output, any case   (PD:186-188)
    supportsPromptCache  = supports_prompt_cache === true, or cost.cache_write ?? cost.cache_read given,
                           or attachment === true                                          (PD:193-196)
    inputPrice           = cost.input           (USD per million tokens, as published)
    outputPrice          = cost.output
    displayName          = name ?? display_name ?? id ?? the key (an empty name is shown empty, PD:212)

A value the data does not give is left out, and the client falls back to its own default; so is a number JSON
cannot write (``1e400`` is read as Infinity, PD's schema accepts it, and no protocol answer can carry it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
    """A finding the reference loader raises on: ``code`` is stable across releases; ``stage`` says where the
    client gives up (``schema``: its schema refuses the document; ``fetch``: it accepts the document and then
    cannot fetch from it)."""

    code: str = ""
    stage: str = "schema"

    def error(self) -> LoaderError:
        """The refusal: at the fetch, code ``fetch`` whatever made the request impossible, as for a request that
        failed (the message says which)."""
        code = "fetch" if self.stage == "fetch" else self.code
        return LoaderError(code, self.message, self.pointer or "", self.stage)


@dataclass(frozen=True)
class Manifest:
    name: str
    website: str
    base_url: str
    """Trimmed, as the client's schema hands it on (PD:22)."""
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
        """The loader protocol's normalized form: camelCase, unknown values (and non-finite numbers) omitted."""
        out = {
            "contextWindow": self.context_window,
            "maxTokens": self.max_tokens,
            "supportsImages": self.supports_images,
            "supportsPromptCache": self.supports_prompt_cache,
            "inputPrice": self.input_price,
            "outputPrice": self.output_price,
            "displayName": self.display_name,
        }
        return {k: v for k, v in out.items() if v is not None and not (isinstance(v, float) and math.isinf(v))}


@dataclass(frozen=True)
class Provider:
    manifest: Manifest
    models: dict[str, ClientModel]


def _string_field(
    obj: dict[str, Any], key: str, pointer: str, code: str, *, required: bool, what: str, empty_ok: bool = False
) -> Iterator[Problem]:
    if key not in obj:
        if required:
            yield Problem(f"`{key}` is missing", pointer, f"{what}", ABSENT, f"add `{key}`", code=code)
        return
    value = obj[key]
    if not isinstance(value, str) or not (value or empty_ok):
        fix = "remove the field or give it a value" if value is None else f"make `{key}` {what}"
        yield Problem(
            f"`{key}` is {json_type(value)}, not {what}", jsondoc.join(pointer, key), what, value, fix, code=code
        )


def _url_problems(value: dict[str, Any], key: str, pointer: str, code: str) -> Iterator[Problem]:
    """``z.string().trim().min(1)`` and ``new URL()`` (PD:20-31); for ``baseUrl``, also whether the client can
    then fetch from it."""
    what = "an absolute http(s) URL" if key == "baseUrl" else "an absolute URL"
    bad = list(_string_field(value, key, pointer, code, required=True, what=what))
    if bad:
        yield from bad
        return
    where = jsondoc.join(pointer, key)
    trimmed = urls.js_trim(value[key])
    fix = "write the full URL, e.g. https://api.example.com/v1" if key == "baseUrl" else None
    if not trimmed:
        yield Problem(f"`{key}` is blank", where, what, value[key], fix, code=code)
    elif urls.whatwg_parse(trimmed) is None:
        yield Problem(
            f"`{key}` {value[key]!r} is not a URL: new URL() throws on it", where, what, value[key], fix, code=code
        )
    elif key == "baseUrl":
        reason = urls.fetch_problem(trimmed)
        if reason:
            yield Problem(
                f"`baseUrl` {value[key]!r} is not {what}: {reason}. The client's schema takes it, and every "
                "request to it fails",
                where,
                what,
                value[key],
                fix,
                code=code,
                stage="fetch",
            )


def manifest_problems(value: Any, *, embedded: bool, pointer: str = "") -> Iterator[Problem]:
    """Every reason the client refuses ``value`` as a manifest (hosted, or element 0 of embedded JSON), or
    fails with it (``stage="fetch"``: the schema takes it, the requests built from it cannot succeed)."""
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
    yield from _url_problems(value, "baseUrl", pointer, "manifest-base-url")
    yield from _url_problems(value, "website", pointer, "manifest-website")
    yield from _source_problems(value, embedded=embedded, pointer=pointer)
    yield from _string_field(
        value,
        "models_dev_provider_id",
        pointer,
        "manifest-models-dev-id",
        required=False,
        what="a string",
        empty_ok=True,
    )
    endpoint_problems = list(
        _string_field(
            value,
            "models_endpoint",
            pointer,
            "manifest-models-endpoint",
            required=False,
            what="a string",
            empty_ok=True,
        )
    )
    yield from endpoint_problems
    yield from _headers_problems(value, pointer)
    base, endpoint = value.get("baseUrl"), value.get("models_endpoint")
    if endpoint and isinstance(endpoint, str) and isinstance(base, str) and urls.whatwg_parse(urls.js_trim(base)):
        resolved = urls.whatwg_parse(endpoint, urls.js_trim(base))
        reason = "new URL(models_endpoint, baseUrl) throws" if resolved is None else urls.fetch_problem(resolved.href)
        if reason and (resolved is None or not urls.fetch_problem(urls.js_trim(base))):
            yield Problem(
                f'`models_endpoint` {endpoint!r} is not usable: {reason} (PD:158; the client says "Invalid '
                'models_endpoint in provider manifest" when it fetches)',
                jsondoc.join(pointer, "models_endpoint"),
                "a URL, or a path that resolves against baseUrl",
                endpoint,
                code="manifest-models-endpoint",
                stage="fetch",
            )


def _headers_problems(value: dict[str, Any], pointer: str) -> Iterator[Problem]:
    if "headers" not in value:
        return
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
        return
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
        if source == "models_dev" and not value.get("models_dev_provider_id"):
            yield Problem(
                "models_dev_provider_id is required when models_data_source is 'models_dev'",
                pointer,
                "a models.dev provider id",
                value.get("models_dev_provider_id", ABSENT),
                "add `models_dev_provider_id` naming the provider's key in the models.dev catalog",
                code="manifest-models-dev-id",
            )
        return
    expected = " or ".join(repr(s) for s in allowed)
    if embedded and source in ALL_SOURCES:
        message = "embedded provider JSON must set models_data_source to 'embedded'"
    elif source == "embedded":
        message = "a hosted manifest cannot use models_data_source 'embedded' (that is for pasted JSON)"
    else:
        message = f"models_data_source must be {expected}"
    yield Problem(message, where, expected, source, f"set models_data_source to {expected}", code="manifest-source")


def openai_list(value: Any) -> str | None:
    """What an OpenAI-style ``{data: [...]}`` list is called, if ``value`` is one without a ``models`` object."""
    if isinstance(value, dict) and isinstance(value.get("data"), list) and "models" not in value:
        return "an OpenAI model list" if value.get("object") == "list" else "an OpenAI-style {data: [...]} list"
    return None


def extended_problems(value: Any, *, pointer: str = "") -> Iterator[Problem]:
    """Every reason the client refuses ``value`` as a model list, model entries aside: ``z.object({models:
    z.record(model).default({})}).passthrough()`` (PD:87-91). A list without ``models`` is taken, with no model."""
    fix = 'serve {"models": {"<model id>": {...}}} (an object keyed by model id) at {baseUrl}/models?extended=true'
    if not isinstance(value, dict):
        yield Problem(
            f"the model list is {json_type(value)}, not a JSON object",
            pointer,
            'an object with a "models" object',
            value,
            fix,
            code="extended-not-object",
        )
        return
    models = value.get("models", ABSENT)
    if models is not ABSENT and not isinstance(models, dict):
        hint = " (this looks like an Ollama /api/tags body)" if isinstance(models, list) else ""
        yield Problem(
            f"`models` is {json_type(models)}, not an object keyed by model id{hint}",
            jsondoc.join(pointer, "models"),
            "an object keyed by model id",
            models,
            fix,
            code="models-not-object",
        )


_NUMBER = "a number"
MODEL_FIELDS: dict[str, Any] = {
    "id": "a string",
    "name": "a string",
    "description": "a string",
    "display_name": "a string",
    "reasoning": "a boolean",
    "temperature": "a boolean",
    "attachment": "a boolean",
    "tool_call": "a boolean",
    "open_weights": "a boolean",
    "modalities": {"input": "an array of strings", "output": "an array of strings"},
    "cost": {"input": _NUMBER, "output": _NUMBER, "cache_read": _NUMBER, "cache_write": _NUMBER},
    "limit": {"context": _NUMBER, "output": _NUMBER},
}
"""The fields the client's model schema types (PD:47-85); every other field passes through unread."""


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "a string": lambda value: isinstance(value, str),
    "a boolean": lambda value: isinstance(value, bool),
    _NUMBER: lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "an array of strings": lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
}


def _schema(wanted: Any) -> dict[str, Any]:
    if isinstance(wanted, dict):
        return {"type": "object", "properties": {key: _schema(inner) for key, inner in wanted.items()}}
    return _JSON_TYPES[wanted]


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "a string": {"type": "string"},
    "a boolean": {"type": "boolean"},
    _NUMBER: {"type": "number"},
    "an array of strings": {"type": "array", "items": {"type": "string"}},
}
_TYPES_HOLD = schemas.compiled(_schema(MODEL_FIELDS))
"""``MODEL_FIELDS`` compiled: clears a model entry of a large catalog in a microsecond; only an entry it
refuses is walked field by field to say why."""


def _type_problem(name: str, where: str, found: Any, wanted: str) -> Problem:
    if found is None:
        fix = f"leave `{name}` out instead of writing null"
    elif isinstance(found, str) and wanted == _NUMBER:
        fix = "write the number without quotes"
    elif isinstance(found, str) and wanted == "a boolean":
        fix = "write true or false without quotes"
    else:
        fix = f"make `{name}` {wanted}"
    return Problem(f"`{name}` is {json_type(found)}, not {wanted}", where, wanted, found, fix, code="model-type")


def model_problems(model_id: str, entry: Any, *, pointer: str) -> Iterator[Problem]:
    """Every field of one model entry whose type makes the client's schema refuse the whole list (PD:70-85)."""
    return iter(()) if _TYPES_HOLD(entry) else type_problems(model_id, entry, pointer=pointer)


def type_problems(model_id: str, entry: Any, *, pointer: str) -> Iterator[Problem]:
    """``model_problems`` field by field: what says why an entry is refused."""
    if not isinstance(entry, dict):
        yield Problem(
            f"model {model_id!r} is {json_type(entry)}, not an object",
            pointer,
            "an object",
            entry,
            code="model-not-object",
        )
        return
    for key, wanted in MODEL_FIELDS.items():
        if key not in entry:
            continue
        value = entry[key]
        if isinstance(wanted, str):
            if not _TYPE_TESTS[wanted](value):
                yield _type_problem(key, jsondoc.join(pointer, key), value, wanted)
            continue
        if not isinstance(value, dict):
            yield _type_problem(key, jsondoc.join(pointer, key), value, "an object")
            continue
        for inner, inner_wanted in wanted.items():
            if inner not in value or _TYPE_TESTS[inner_wanted](item := value[inner]):
                continue
            if isinstance(item, list) and inner_wanted != _NUMBER:  # name the first item that is no string
                index = next(i for i, x in enumerate(item) if not isinstance(x, str))
                yield _type_problem(
                    f"{key}.{inner}.{index}", jsondoc.join(pointer, key, inner, index), item[index], "a string"
                )
            else:
                yield _type_problem(f"{key}.{inner}", jsondoc.join(pointer, key, inner), item, inner_wanted)


def _lower_has_image(values: Any) -> bool:
    return isinstance(values, list) and any(isinstance(v, str) and v.lower() == "image" for v in values)


def _given(mapping: dict[str, Any], *keys: str) -> Any:
    """``a ?? b ?? …`` over the keys of ``mapping`` (JSON has no undefined: an absent key is the only nullish
    value a schema-valid entry can hold)."""
    for key in keys:
        if (value := mapping.get(key)) is not None:
            return value
    return None


def map_model(model_id: str, entry: dict[str, Any]) -> ClientModel:
    """What the client shows for a model entry that passed ``model_problems`` (``toModelInfo``, PD:177-216)."""
    limit = entry.get("limit", {})
    cost = entry.get("cost", {})
    modalities = entry.get("modalities", {})
    name = _given(entry, "name", "display_name", "id")
    return ClientModel(
        id=model_id,
        display_name=name if name is not None else model_id,
        context_window=limit.get("context"),
        max_tokens=_given(limit, "output", "context"),
        supports_images=_lower_has_image(modalities.get("input")) or _lower_has_image(modalities.get("output")),
        supports_prompt_cache=entry.get("supports_prompt_cache") is True
        or _given(cost, "cache_write", "cache_read") is not None
        or entry.get("attachment") is True,
        input_price=cost.get("input"),
        output_price=cost.get("output"),
    )


def _raise_first(problems: Iterator[Problem], *, stage: str = "schema") -> None:
    for problem in problems:
        if problem.stage == stage:
            raise problem.error()


def parse_manifest(value: Any, *, embedded: bool = False, pointer: str = "") -> Manifest:
    """A manifest the client's schema accepts (PD:33-43, and for pasted JSON PD:232), or ``LoaderError`` for the
    first reason it would not. Problems that show only when the client fetches are ``fetch_problems``."""
    _raise_first(manifest_problems(value, embedded=embedded, pointer=pointer))
    endpoint = value.get("models_endpoint")
    return Manifest(
        name=value["name"],
        website=urls.js_trim(value["website"]),
        base_url=urls.js_trim(value["baseUrl"]),
        models_data_source=value["models_data_source"],
        models_dev_provider_id=value.get("models_dev_provider_id"),
        headers=dict(value.get("headers", {})),
        models_endpoint=endpoint or None,  # "" counts as absent (PD:156)
    )


def fetch_problems(value: Any) -> Iterator[Problem]:
    """Why the client, having accepted a hosted ``endpoint`` manifest, cannot fetch its model list (for a
    ``models_dev`` manifest it fetches only models.dev)."""
    if isinstance(value, dict) and value.get("models_data_source") == "endpoint":
        yield from (p for p in manifest_problems(value, embedded=False) if p.stage == "fetch")


def accept_extended(value: Any, *, pointer: str = "") -> dict[str, Any]:
    """The model entries of a model list the client's schema accepts (PD:70-89), or ``LoaderError`` for the first
    reason it would not."""
    _raise_first(extended_problems(value, pointer=pointer))
    models: dict[str, Any] = value.get("models", {})
    for model_id, entry in models.items():
        _raise_first(model_problems(model_id, entry, pointer=jsondoc.join(pointer, "models", model_id)))
    return models


def parse_extended(value: Any, *, pointer: str = "") -> dict[str, ClientModel]:
    """The models the client shows for a model list, or ``LoaderError``."""
    return {model_id: map_model(model_id, entry) for model_id, entry in accept_extended(value, pointer=pointer).items()}


def embedded_shape_problems(value: Any) -> Iterator[Problem]:
    """Why pasted JSON is not the ``[manifest, models]`` array the client expects (PD:226-228)."""
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
    """Pasted text as the client reads it: trimmed first (its call sites call ``.trim()``, which removes a
    byte-order mark too), then ``JSON.parse``; ``DocumentError`` (a ``LoaderError``) says why it is not JSON."""
    try:
        text = jsondoc.decode(raw, max_bytes=max_bytes) if isinstance(raw, bytes) else raw
        trimmed = urls.js_trim(text)
        if not trimmed:
            raise LoaderError(
                "empty", "the document is empty: the client asks for a manifest URL or pasted JSON", "", "parse"
            )
        document = jsondoc.read(trimmed, max_bytes=max_bytes)
    except LoaderError as exc:
        exc.message = f"embedded provider JSON is not valid JSON: {exc.message}"
        exc.args = (exc.message,)
        raise
    lead = text[: len(text) - len(text.lstrip(urls.JS_WHITESPACE))]
    if "\ufeff" in lead and not document.bom:
        document = jsondoc.Document(document.value, document.duplicate_keys, True, document.overflows, document.depth)
    return document


def load_embedded(raw: bytes | str, *, max_bytes: int = jsondoc.DEFAULT_MAX_BYTES) -> Provider:
    """Everything the client does with pasted JSON (``parseEmbeddedProviderData``, PD:218-244), no HTTP."""
    value = read_embedded(raw, max_bytes=max_bytes).value
    _raise_first(embedded_shape_problems(value))
    manifest = parse_manifest(value[0], embedded=True, pointer="/0")
    return Provider(manifest, parse_extended(value[1], pointer="/1"))


def models_dev_problems(catalog: Any) -> Iterator[Problem]:
    """Why the client's ``z.record(provider)`` refuses a whole models.dev catalog (PD:95-104): every provider is
    checked, not only the one the manifest names."""
    if not isinstance(catalog, dict):
        yield Problem(
            f"the models.dev catalog is {json_type(catalog)}, not an object keyed by provider id",
            "",
            "an object keyed by provider id",
            catalog,
            code="models-dev-not-object",
        )
        return
    for provider_id, entry in catalog.items():
        where = jsondoc.join("", provider_id)
        if not isinstance(entry, dict):  # a provider entry is a model list with more fields
            yield from extended_problems(entry, pointer=where)
            continue
        for key in ("id", "api", "name"):
            if key in entry and not isinstance(entry[key], str):
                yield Problem(
                    f"provider {provider_id!r}: `{key}` is {json_type(entry[key])}, not a string",
                    jsondoc.join(where, key),
                    "a string",
                    entry[key],
                    code="models-dev-entry",
                )
        yield from extended_problems(entry, pointer=where)
        models = entry.get("models", {})
        if isinstance(models, dict):
            for model_id, model in models.items():
                yield from model_problems(model_id, model, pointer=jsondoc.join(where, "models", model_id))


def parse_models_dev(catalog: Any, provider_id: str) -> dict[str, ClientModel]:
    """The models the client shows for a provider read from a models.dev ``api.json`` catalog (PD:271-305)."""
    _raise_first(models_dev_problems(catalog))
    where = jsondoc.join("", provider_id)
    if provider_id not in catalog:
        raise LoaderError("models-dev-provider", f"models.dev response did not include provider {provider_id!r}", where)
    return parse_extended(catalog[provider_id], pointer=where)


def load_models_dev(manifest: Any, catalog: Any) -> Provider:
    """What the client makes of a ``models_dev`` manifest and the catalog it names."""
    parsed = parse_manifest(manifest)
    if parsed.models_data_source != "models_dev" or not parsed.models_dev_provider_id:
        raise LoaderError("manifest-source", "the manifest does not say models_data_source 'models_dev'")
    return Provider(parsed, parse_models_dev(catalog, parsed.models_dev_provider_id))


def load_hosted(manifest: Any, extended: Any) -> Provider:
    """What the client makes of a hosted ``endpoint`` manifest and the model list served where it points."""
    parsed = parse_manifest(manifest)
    _raise_first(fetch_problems(manifest), stage="fetch")
    return Provider(parsed, parse_extended(extended))


def main() -> None:
    """``python -m conformance.loader``: the reference loader speaking the loader protocol (a JSON request per
    line on stdin, a JSON response per line on stdout), so ``--loader-cmd`` can run the corpus against it."""
    from conformance.harness.reference import main as serve_protocol

    serve_protocol()


if __name__ == "__main__":
    main()

"""MDV-*: providers in a models.dev ``api.json`` catalog: the one a ``models_dev`` manifest names, or every provider
of a catalog given with ``--models-dev`` (one item per provider, so 147 providers read as 147 rows)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from conformance import jsondoc, loader, schemas, urls
from conformance.catalogue import Observation, check
from conformance.checks.extended import before, real_date
from conformance.findings import ABSENT, Finding, Severity
from conformance.live import LiveContext
from conformance.target import CatalogContext, Subject

MUST, SHOULD, INFO = Severity.MUST, Severity.SHOULD, Severity.INFO
KNOWN_COST = {
    "input",
    "output",
    "reasoning",
    "cache_read",
    "cache_write",
    "input_audio",
    "output_audio",
    "tiers",
    "context_over_200k",
}
KNOWN_PROVIDER = {"npm", "api", "shape", "body", "headers"}
_TEMPLATE = re.compile(r"\$\{[^}]*\}")


def _provider(subject: Subject) -> dict[str, Any]:
    provider = subject.value.get(subject.name) if isinstance(subject.value, dict) else None
    return provider if isinstance(provider, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    """``value`` where it is an object, else an empty one: the checks beside MDV-002 read past a wrong type (the
    schema's finding) rather than stop on it."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _models(subject: Subject) -> dict[str, Any]:
    models = _provider(subject).get("models")
    return {k: m for k, m in models.items() if isinstance(m, dict)} if isinstance(models, dict) else {}


@check(
    "MDV-001",
    MUST,
    "The models.dev catalog is readable and has the provider",
    scope="models-dev",
    rationale="the client looks the provider up by its id; an unreadable catalog or a missing key leaves no models",
    source='loader error "models.dev response did not include provider…"',
)
def provider_present(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if ctx.models_dev and ctx.models_dev.error:
        yield Finding(
            f"the models.dev catalog could not be read: {ctx.models_dev.error.message}",
            fix="name a readable catalog with --models-dev",
        )
        return
    catalog = subject.value
    if not isinstance(catalog, dict):
        yield Finding(
            f"the catalog is {loader.json_type(catalog)}, not an object keyed by provider id",
            "",
            "{provider_id: {…}}",
            "[…]" if isinstance(catalog, list) else catalog,
            "publish the providers as an object keyed by provider id",
        )
    elif subject.name not in catalog:
        yield Finding(
            f"the catalog has no provider {subject.name!r}",
            jsondoc.join("", subject.name),
            "a top-level key equal to the provider id",
            ABSENT,
            "fix the provider id, or get the provider listed on models.dev",
        )


@check(
    "MDV-002",
    MUST,
    "The provider and every model follow the models.dev schema",
    scope="models-dev",
    requires="MDV-001",
    rationale="models.dev and every client that reads its catalog reject a provider that breaks its schema",
    source="models.dev schema (schemas/models-dev-api.schema.json)",
)
def provider_schema(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    provider = subject.value.get(subject.name)
    where = jsondoc.join("", subject.name)
    if not schemas.fast("models-dev-api", "provider")(provider):
        errors = schemas.validator("models-dev-api", "/definitions/provider").iter_errors(provider)
        explained = sorted(errors, key=lambda e: list(map(str, e.absolute_path)))[:50]
        for error in explained:
            yield Finding(
                _schema_message(error),
                jsondoc.join(where, *error.absolute_path),
                fix="see schemas/models-dev-api.schema.json for the rule",
            )
        if explained:
            return
    if not _models(subject):
        yield Finding(
            "the provider lists no model",
            jsondoc.join(where, "models"),
            "at least one model",
            fix="list the provider's models",
        )


def _schema_message(error: Any) -> str:
    field = ".".join(map(str, error.absolute_path)) or "the provider"
    if error.validator == "additionalProperties":
        return f"{field}: {error.message} (this object takes no unknown keys)"
    if error.validator == "not" and error.validator_value == {"required": ["reasoning_options"]}:
        return f"{field}: reasoning_options given although reasoning is false"
    if error.validator == "not" and error.validator_value == {"required": ["api"]}:
        return f"{field}: `api` is not allowed with npm {error.instance.get('npm')!r}"
    return f"{field}: {error.message}"


@check(
    "MDV-003",
    SHOULD,
    "The provider's `api` is the manifest's `baseUrl`",
    scope="models-dev",
    requires="MDV-001",
    rationale="clients that read models.dev send requests to `api`; the manifest's users go to baseUrl",
    source="consistency between the manifest and its catalog entry",
    applies=lambda ctx: ctx.manifest is not None,
)
def api_matches(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    api = _provider(subject).get("api")
    base = ctx.manifest.value.get("baseUrl") if ctx.manifest and isinstance(ctx.manifest.value, dict) else None
    if isinstance(api, str) and isinstance(base, str) and api.rstrip("/") != base.rstrip("/"):
        yield Finding(
            f"the catalog's api {api!r} differs from the manifest's baseUrl {base!r}",
            jsondoc.join("", subject.name, "api"),
            base,
            api,
            "publish the same API root in both",
        )


@check(
    "MDV-004",
    INFO,
    "Which models a tool-calling agent's catalog keeps",
    scope="models-dev",
    requires="MDV-001",
    rationale="agent clients (Codex, Open Interpreter) keep only models with tool calling and text output, from "
    "providers with a usable base URL",
    source="Open Interpreter provider catalog rules; Codex model catalog",
)
def agent_catalog(subject: Subject, ctx: CatalogContext) -> Iterator[Finding | Observation]:
    provider, models = _provider(subject), _models(subject)
    api = provider.get("api")
    if not isinstance(api, str) or _TEMPLATE.search(api) or urls.url_problem(api):
        yield Finding(
            f"no model is kept: the provider's api {api!r} is not a usable base URL",
            jsondoc.join("", subject.name, "api"),
            fix="give the API root as a plain https URL",
        )
        return
    dropped = sorted(
        k
        for k, m in models.items()
        if m.get("tool_call") is not True or "text" not in _list(_dict(m.get("modalities")).get("output"))
    )
    if dropped:
        shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        yield Finding(
            f"{len(dropped)} of {len(models)} models are dropped (no tool calling or no text output): {shown}",
            jsondoc.join("", subject.name, "models"),
        )
    else:
        yield Observation(f"all {len(models)} models are kept")


@check(
    "MDV-005",
    MUST,
    "Ids, names and ranges agree where the schema cannot say",
    scope="models-dev",
    requires="MDV-001",
    rationale="the provider id is how clients find it, names tell providers apart, budgets and tiers must be ordered",
    source="models.dev schema refinements (id equals key, unique names, min ≤ max, unique tier sizes)",
)
def cross_field(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    provider = _provider(subject)
    where = jsondoc.join("", subject.name)
    if provider.get("id") != subject.name:
        yield Finding(
            f"the provider listed under {subject.name!r} has id {provider.get('id')!r}",
            jsondoc.join(where, "id"),
            repr(subject.name),
            provider.get("id", ABSENT),
        )
    name = provider.get("name")
    if isinstance(name, str) and isinstance(subject.value, dict):
        twins = sorted(k for k in ctx.provider_names.get(name.casefold(), ()) if k != subject.name)
        if twins:
            yield Finding(
                f"the name {name!r} is also the name of {', '.join(twins)}",
                jsondoc.join(where, "name"),
                "a name no other provider has (case-insensitively)",
            )
    for model_id, model in _models(subject).items():
        # the pointer is made only for a finding: most models have none, and a catalog has thousands
        for index, option in enumerate(_list(model.get("reasoning_options"))):
            low, high = (option.get("min"), option.get("max")) if isinstance(option, dict) else (None, None)
            if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
                yield Finding(
                    f"budget_tokens min {low} is above max {high}",
                    jsondoc.join(where, "models", model_id, "reasoning_options", index),
                )
        tiers = _list(_dict(model.get("cost")).get("tiers"))
        if not tiers:
            continue
        sizes = [size for t in tiers if isinstance(size := _dict(_dict(t).get("tier")).get("size"), int | float)]
        if len(sizes) != len(set(sizes)):
            yield Finding(
                "two cost tiers start at the same context size",
                jsondoc.join(where, "models", model_id, "cost", "tiers"),
            )


@check(
    "MDV-006",
    SHOULD,
    "No data a catalog maintainer would fix",
    scope="models-dev",
    requires="MDV-001",
    rationale="valid but surprising values (output above context, impossible dates, stray spaces, unknown keys "
    "dropped silently) mislead clients and users",
    source="models.dev data conventions",
)
def quirks(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    where = jsondoc.join("", subject.name)
    name = _provider(subject).get("name")
    if isinstance(name, str) and name != name.strip():
        yield Finding(f"the provider name {name!r} has surrounding whitespace", jsondoc.join(where, "name"))
    for model_id, model in _models(subject).items():
        for key, message in _model_quirks(model_id, model):
            # the pointer is made only for a finding: most models have none, and a catalog has thousands
            yield Finding(message, jsondoc.join(where, "models", model_id, *key))


def _model_quirks(model_id: str, model: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """What a maintainer would fix in one model: (where under the model, what)."""
    limit = model.get("limit")
    if isinstance(limit, dict):
        context, output = limit.get("context"), limit.get("output")
        if isinstance(context, int | float) and isinstance(output, int | float):
            if 0 < context < output:
                yield ("limit",), f"{model_id}: limit.output {output} is above limit.context {context}"
            if (context == 0 or output == 0) and "text" in _list(_dict(model.get("modalities")).get("output")):
                yield ("limit",), f"{model_id}: a text model with a zero limit (context {context}, output {output})"
    release, updated = model.get("release_date"), model.get("last_updated")
    for key in ("release_date", "last_updated", "knowledge"):
        value = model.get(key)
        if isinstance(value, str) and not real_date(value):
            yield (key,), f"{model_id}: {key} {value!r} is not a calendar date"
    if isinstance(release, str) and isinstance(updated, str) and release and updated and before(updated, release):
        yield ("last_updated",), f"{model_id}: last_updated {updated} is before release_date {release}"
    name = model.get("name")
    if isinstance(name, str) and name != name.strip():
        yield ("name",), f"{model_id}: the name {name!r} has surrounding whitespace"
    if model.get("id") != model_id:
        yield ("id",), f"{model_id}: listed under another key than its id {model.get('id')!r}"
    for key, known in (("cost", KNOWN_COST), ("provider", KNOWN_PROVIDER)):
        given = model.get(key)
        if isinstance(given, dict) and not known.issuperset(given):
            yield (key,), f"{model_id}: {key} has keys models.dev drops: {', '.join(sorted(set(given) - known))}"


@check(
    "MDV-007",
    MUST,
    "Each provider's `api` answers its model list with the key",
    scope="registry",
    rationale="a client that reads the catalog (Kimi Code CLI's custom registry) sends requests to `api`; one that "
    "does not answer leaves the provider unusable",
    source="Kimi Code CLI custom registries (models.dev api.json shape)",
)
async def registry_api(subject: Subject, ctx: LiveContext) -> list[Finding | Observation]:
    api = ctx.target.registry[subject.name]
    exchange = await ctx.http.request("GET", f"{api.rstrip('/')}/models", headers=ctx.http.headers())
    body = exchange.json if isinstance(exchange.json, dict) else {}
    if not exchange.ok or not isinstance(body.get("data"), list):
        return [
            Finding(
                f"GET {api.rstrip('/')}/models did not answer an OpenAI model list",
                exchange=ctx.describe(exchange),
                fix="serve the provider's API at the catalog's api URL",
            )
        ]
    return [Observation(f"{len(body['data'])} models listed")]

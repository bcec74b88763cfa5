"""MDV-*: a provider whose manifest says ``models_dev`` is read from a models.dev ``api.json`` catalog."""

from __future__ import annotations

from collections.abc import Iterator

from conformance import jsondoc, loader
from conformance.catalogue import check
from conformance.findings import ABSENT, Finding, Severity
from conformance.target import CatalogContext, Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD


@check(
    "MDV-001",
    MUST,
    "The models.dev catalog has the provider",
    scope="models-dev",
    rationale="the client looks the provider up by models_dev_provider_id; a missing key leaves it without models",
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
            expected="{provider_id: {…}}",
            found=catalog,
        )
    elif subject.name not in catalog:
        yield Finding(
            f"the catalog has no provider {subject.name!r}",
            jsondoc.join("", subject.name),
            "a top-level key equal to models_dev_provider_id",
            ABSENT,
            "fix models_dev_provider_id, or get the provider listed on models.dev",
        )


def _provider(subject: Subject) -> dict:  # type: ignore[type-arg]
    provider = subject.value.get(subject.name)
    return provider if isinstance(provider, dict) else {}


@check(
    "MDV-002",
    MUST,
    "The provider lists models whose fields the client can read",
    scope="models-dev",
    requires="MDV-001",
    rationale="with no model, or one field of the wrong type, the client shows an empty or broken model list",
    source="models.dev schema (the fields the client maps)",
)
def provider_models(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    where = jsondoc.join("", subject.name, "models")
    models = _provider(subject).get("models", ABSENT)
    if not isinstance(models, dict) or not models:
        yield Finding(
            "the provider lists no model",
            where,
            "at least one model",
            models,
            "list the provider's models in the catalog",
        )
        return
    for model_id, entry in models.items():
        yield from loader.model_problems(model_id, entry, pointer=jsondoc.join(where, model_id))


@check(
    "MDV-003",
    SHOULD,
    "The provider's `api` is the manifest's `baseUrl`",
    scope="models-dev",
    requires="MDV-001",
    rationale="clients that read models.dev send requests to `api`; the manifest's users go to baseUrl",
    source="consistency between the manifest and its catalog entry",
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

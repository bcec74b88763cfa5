"""EXT-*: the extended model list (``GET {baseUrl}/models?extended=true``, or element 1 of embedded JSON)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from conformance import jsondoc, loader, schemas
from conformance.catalogue import Observation, check
from conformance.findings import ABSENT, Finding, Severity
from conformance.target import CatalogContext, Subject

MUST, SHOULD, INFO = Severity.MUST, Severity.SHOULD, Severity.INFO
MODALITIES = ("text", "image", "audio", "video", "pdf")
_DATE = re.compile(r"\d{4}-\d{2}(?:-\d{2})?")
PER_TOKEN_BELOW = 0.001


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@check(
    "EXT-001",
    MUST,
    "The model list is an object with a `models` object",
    scope="extended",
    rationale="the client reads `models` keyed by model id; an OpenAI {object, data} list is a classic mistake",
    source="reference loader; Provider Defined docs troubleshooting",
)
def models_object(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if ctx.extended and ctx.extended.error:
        yield Finding(
            f"the model list could not be read: {ctx.extended.error.message}",
            ctx.extended.error.pointer,
            'a JSON object with a "models" object',
            fix="serve the list as a UTF-8 JSON object",
        )
        return
    if ctx.extended and ctx.extended.served_as:
        yield Finding(
            f"the model list is served as {ctx.extended.served_as}",
            expected="HTTP 200, application/json",
            fix="serve the model list with Content-Type: application/json",
        )
    yield from loader.extended_problems(subject.value, pointer=subject.pointer)


@check(
    "EXT-002",
    MUST,
    "At least one model is listed",
    scope="extended",
    requires="EXT-001",
    rationale="with no model the client's model dropdown is empty and nothing can be used",
    source='Provider Defined docs: "Models dropdown empty"',
)
def at_least_one_model(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if subject.value.get("models"):
        return
    where = jsondoc.join(subject.pointer, "models")
    what = loader.openai_list(subject.value)
    if what:
        yield Finding(
            f"this is {what}, not an extended-models response: the client reads `models`, an object keyed by "
            "model id with the catalog fields (limit, cost, modalities …), finds none, and shows no model "
            "(PD:89: a missing `models` defaults to {})",
            where,
            'an object with a "models" object',
            "{" + ", ".join(f'"{k}": …' for k in subject.value) + "}",
            'serve {"models": {"<model id>": {...}}} at {baseUrl}/models?extended=true',
        )
        return
    missing = "models" not in subject.value
    yield Finding(
        "`models` is missing: the client takes the list as empty (PD:89)" if missing else "`models` is empty",
        where,
        "at least one model",
        ABSENT if missing else {},
        "list the models your API serves",
    )


@check(
    "EXT-003",
    MUST,
    "Every model entry has the types the client requires",
    scope="model",
    rationale="one string where a number belongs, or one null, makes the client drop the whole list",
    source="reference loader schema (any of these breaks the whole list)",
)
def model_types(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    yield from loader.model_problems(subject.name, subject.value, pointer=subject.pointer)


@check(
    "EXT-011",
    SHOULD,
    "Every model field has the type the published format gives it",
    scope="model",
    requires="EXT-003",
    rationale="the client passes fields it does not read through unchecked, but other readers of the list do not",
    source="schemas/extended-models.schema.json; models.dev schema",
)
def published_types(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if schemas.fast("extended-models", "model")(subject.value):
        return  # the compiled schema clears a valid model in microseconds; only a rejected one is explained
    for error in schemas.validator("extended-models", "/definitions/model").iter_errors(subject.value):
        path = [str(p) for p in error.absolute_path]
        read = loader.MODEL_FIELDS.get(path[0]) if path else None
        if isinstance(read, str) or (isinstance(read, dict) and len(path) > 1 and path[1] in read):
            continue  # a field the client reads: EXT-003's
        found = error.instance
        yield Finding(
            f"`{'.'.join(path)}` is {loader.json_type(found)}, not {error.validator_value}: the client passes it "
            "through unread, other readers refuse it",
            jsondoc.join(subject.pointer, *path),
            str(error.validator_value),
            found,
            f"leave `{'.'.join(path)}` out instead of writing null" if found is None else "fix its type",
        )


@check(
    "EXT-012",
    SHOULD,
    "No model's `name` is empty",
    scope="model",
    requires="EXT-003",
    rationale="the client shows `name` as it is (`name ?? id`): an empty name is an empty line in the model picker",
    source="provider-defined.ts PD:212 (displayName = name ?? display_name ?? id ?? key)",
)
def name_not_empty(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    name = subject.value.get("name")
    if isinstance(name, str) and not name.strip():
        yield Finding(
            f"model {subject.name!r} has the name {name!r}; the client shows it as it is, not the id",
            jsondoc.join(subject.pointer, "name"),
            "a display name",
            name,
            f'give it a name, or leave `name` out to show "{subject.name}"',
        )


@check(
    "EXT-004",
    SHOULD,
    "Each model's `id` equals its key",
    scope="model",
    requires="EXT-003",
    rationale="the key is what the client sends as `model`; a different id misleads every other tool",
    source="reference loader: the key is the model id",
)
def id_matches_key(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    model_id = subject.value.get("id", ABSENT)
    if model_id != subject.name:
        shown = "no id" if model_id is ABSENT else f"id {model_id!r}"
        yield Finding(
            f"model listed under {subject.name!r} has {shown}",
            jsondoc.join(subject.pointer, "id"),
            repr(subject.name),
            model_id,
            f'set "id": "{subject.name}"',
        )


@check(
    "EXT-005",
    SHOULD,
    "`limit.context` and `limit.output` are given and consistent",
    scope="model",
    requires="EXT-003",
    rationale="without limit.output the client sends the whole context window as max_tokens",
    source="loader mapping maxTokens = limit.output ?? limit.context",
)
def limits(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    limit = subject.value.get("limit", {})
    for key in ("context", "output"):
        value = limit.get(key, ABSENT)
        if value is ABSENT:
            consequence = (
                "the client sends the whole context window as max_tokens, which many APIs reject"
                if key == "output"
                else "the client cannot size the conversation"
            )
            yield Finding(
                f"`limit.{key}` is missing: {consequence}",
                jsondoc.join(subject.pointer, "limit", key),
                "a positive number of tokens",
                ABSENT,
                f"add limit.{key}",
            )
        elif value <= 0:
            yield Finding(
                f"`limit.{key}` is {value}",
                jsondoc.join(subject.pointer, "limit", key),
                "a positive number of tokens",
                value,
                f"give the real {key} limit",
            )
    context, output = limit.get("context"), limit.get("output")
    if _number(context) and _number(output) and 0 < context < output:
        yield Finding(
            f"`limit.output` ({output}) is larger than `limit.context` ({context})",
            jsondoc.join(subject.pointer, "limit", "output"),
            f"at most {context}",
            output,
            "the output limit cannot exceed the context window",
        )


@check(
    "EXT-006",
    SHOULD,
    "`cost.input` and `cost.output` are given in USD per million tokens",
    scope="model",
    requires="EXT-003",
    rationale="the client computes spend from these; a per-token price shows as a million times too cheap",
    source="loader mapping; models.dev units (USD per 1M tokens)",
)
def costs(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    cost = subject.value.get("cost", ABSENT)
    if cost is ABSENT:
        yield Finding(
            "`cost` is missing: the client cannot show or track spend for this model",
            jsondoc.join(subject.pointer, "cost"),
            '{"input": …, "output": …} in USD per million tokens',
            ABSENT,
            "add cost.input and cost.output",
        )
        return
    for key in ("input", "output"):
        value = cost.get(key, ABSENT)
        if value is ABSENT:
            said = (f"`cost.{key}` is missing", "USD per million tokens", f"add cost.{key}")
        elif value < 0:
            said = (f"`cost.{key}` is negative", "a price ≥ 0", "give the real price")
        elif 0 < value < PER_TOKEN_BELOW:
            said = (
                f"`cost.{key}` = {value} looks like a price per token, not per million tokens",
                "USD per million tokens",
                f"multiply by 1,000,000 (= {value * 1e6:g})",
            )
        else:
            continue
        yield Finding(said[0], jsondoc.join(subject.pointer, "cost", key), said[1], value, said[2])


@check(
    "EXT-007",
    SHOULD,
    "Modalities are known values, with text output",
    scope="model",
    requires="EXT-003",
    rationale="clients match modality names exactly; a chat model that does not output text is not usable",
    source="models.dev schema (modalities)",
)
def modalities(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    given = subject.value.get("modalities", {})
    for key in ("input", "output"):
        for index, value in enumerate(given.get(key, [])):
            if value not in MODALITIES:
                yield Finding(
                    f"unknown modality {value!r} in `modalities.{key}`",
                    jsondoc.join(subject.pointer, "modalities", key, index),
                    f"one of {', '.join(MODALITIES)}",
                    value,
                    "use the models.dev modality names",
                )
    if "output" in given and "text" not in given["output"]:
        yield Finding(
            "`modalities.output` lacks 'text': a coding agent cannot chat with this model",
            jsondoc.join(subject.pointer, "modalities", "output"),
            "'text' among the outputs",
            given["output"],
            "list only chat models, or add 'text' if the model writes text",
        )


@lru_cache(maxsize=4096)
def real_date(text: str) -> bool:
    """``text`` is ``YYYY-MM`` or ``YYYY-MM-DD`` and the calendar has that month or day. Cached: a catalog of
    thousands of models repeats a few hundred dates."""
    if not _DATE.fullmatch(text):
        return False
    parts = [int(p) for p in text.split("-")] + [1]
    try:
        datetime.date(*parts[:3])
    except ValueError:
        return False
    return True


def before(a: str, b: str) -> bool:
    """``a`` is before ``b`` at the precision both give (``2025-03`` is not before ``2025-03-15``)."""
    n = min(len(a), len(b))
    return a[:n] < b[:n]


@check(
    "EXT-008",
    SHOULD,
    "`release_date` and `last_updated` are real dates in order",
    scope="model",
    requires="EXT-003",
    rationale="clients sort and label models by date; a malformed or impossible date sorts wrongly",
    source="models.dev schema (YYYY-MM or YYYY-MM-DD)",
)
def dates(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    for key in ("release_date", "last_updated"):
        value = subject.value.get(key)
        if not isinstance(value, str) or real_date(value):  # absent or of the wrong type (EXT-011), or good
            continue
        if not _DATE.fullmatch(value):
            yield Finding(
                f"`{key}` {value!r} is not YYYY-MM or YYYY-MM-DD",
                jsondoc.join(subject.pointer, key),
                "YYYY-MM(-DD)",
                value,
                "write the date as e.g. 2025-08-21",
            )
        else:
            yield Finding(
                f"`{key}` {value!r} is not a calendar date",
                jsondoc.join(subject.pointer, key),
                "a real date",
                value,
                "check month and day",
            )
    release, updated = subject.value.get("release_date"), subject.value.get("last_updated")
    if all(isinstance(v, str) and _DATE.fullmatch(v) for v in (release, updated)) and before(updated, release):
        yield Finding(
            f"`last_updated` ({updated}) is before `release_date` ({release})",
            jsondoc.join(subject.pointer, "last_updated"),
            f"on or after {release}",
            updated,
            "swap or correct the dates",
        )


def describe(model: loader.ClientModel) -> str:
    """A model as the client will show it, in one line."""

    def tokens(n: float | None) -> str:
        return "client default" if n is None else f"{n:,.0f} tokens"

    def price(p: float | None) -> str:
        return "unknown" if p is None else f"${p:g}"

    return (
        f"shown as {model.display_name!r}: context {tokens(model.context_window)}, max output "
        f"{tokens(model.max_tokens)}, images {'yes' if model.supports_images else 'no'}, prompt cache "
        f"{'yes' if model.supports_prompt_cache else 'no'}, price {price(model.input_price)} in / "
        f"{price(model.output_price)} out per 1M tokens"
    )


@check(
    "EXT-009",
    INFO,
    "How the client will show the model",
    scope="model",
    requires="EXT-003",
    rationale="what the user sees after the reference mapping; unknown values fall back to client defaults",
    source="reference loader mapping",
)
def client_view(subject: Subject, ctx: CatalogContext) -> Iterator[Finding | Observation]:
    model = loader.map_model(subject.name, subject.value)
    view = describe(model)
    unknown = [
        label
        for label, value in (
            ("context window", model.context_window),
            ("max output", model.max_tokens),
            ("input price", model.input_price),
            ("output price", model.output_price),
        )
        if value is None
    ]
    if unknown:
        yield Finding(
            f"the client falls back to its own defaults for: {', '.join(unknown)} ({view})",
            subject.pointer,
            fix="give limit and cost so users see the real figures",
        )
    else:
        yield Observation(view)


@check(
    "EXT-010",
    SHOULD,
    "`attachment: true` only with a non-text input modality",
    scope="model",
    requires="EXT-003",
    rationale="the reference client turns prompt caching on from `attachment`; a text-only model that claims "
    "attachments gets both wrong",
    source="reference loader quirk: supportsPromptCache follows attachment",
)
def attachment(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if subject.value.get("attachment") is True:
        inputs = subject.value.get("modalities", {}).get("input", [])
        if not any(m != "text" for m in inputs):
            yield Finding(
                "`attachment` is true but the model takes only text input",
                jsondoc.join(subject.pointer, "attachment"),
                "false for text-only models",
                True,
                "set attachment to false, or list the non-text input modalities",
            )

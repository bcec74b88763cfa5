"""EMB-* and JSON-*: embedded JSON as pasted, and what any published document must not be ambiguous about."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from conformance import jsondoc, loader
from conformance.catalogue import check
from conformance.errors import LoaderError
from conformance.findings import Finding, Severity
from conformance.target import CatalogContext, Part, Subject

MUST, SHOULD = Severity.MUST, Severity.SHOULD


@check(
    "EMB-001",
    MUST,
    "The pasted text is valid JSON",
    scope="embedded",
    rationale="the client trims the text and parses it with JSON.parse: NaN, Infinity or a syntax error stop it",
    source='loader error "Embedded provider JSON is not valid JSON"',
)
def valid_json(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    error = ctx.document.error if ctx.document else None
    if error:
        yield Finding(
            error.message,
            error.pointer or None,
            "strict JSON (RFC 8259)",
            fix="validate the text with a strict JSON parser before publishing it",
        )


@check(
    "JSON-002",
    SHOULD,
    "The pasted JSON is plain JSON every reader takes",
    scope="documents",
    rationale="the client reads past a byte-order mark (it trims first), reads 1e400 as Infinity and any nesting "
    "depth (JSON.parse); stricter readers refuse all three, and no catalog needs them",
    source="RFC 8259 §8.1 (no BOM), §6 (numbers beyond a double's range); webviewMessageHandler.ts .trim() "
    "and JSON.parse (PD:221)",
)
def plain_json(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    read = ctx.reading
    if read is None:
        return
    if read.bom:
        yield Finding(
            "the text starts with a byte-order mark", "", "no BOM", fix="save the file as UTF-8 without a BOM"
        )
    for pointer in read.overflows:
        yield Finding(
            "this number is beyond a double's range: JSON.parse reads it as Infinity",
            pointer,
            "a finite number",
            fix="write the real value, or leave the field out",
        )
    if read.depth > jsondoc.MAX_DEPTH:
        yield Finding(
            f"the JSON nests {read.depth} levels deep; no catalog needs more than {jsondoc.MAX_DEPTH}",
            "",
            f"at most {jsondoc.MAX_DEPTH} levels",
            fix="flatten the document",
        )


@check(
    "EMB-002",
    MUST,
    "The pasted JSON is a [manifest, models] array",
    scope="embedded",
    requires="EMB-001",
    rationale="the client takes element 0 as the manifest and element 1 as the model list",
    source='loader error "…must be an array with [manifest, models]"',
)
def array_shape(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    yield from loader.embedded_shape_problems(subject.value)


@check(
    "EMB-006",
    SHOULD,
    "The pasted array has exactly two elements",
    scope="embedded",
    requires="EMB-002",
    rationale="the client reads elements 0 and 1 and ignores the rest silently: extra elements are a mistake",
    source='Provider Defined docs: "[manifest, extendedModels]"',
)
def exactly_two(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    if len(subject.value) != 2:
        yield Finding(
            f"the array has {len(subject.value)} elements; only the first two are read",
            "/2",
            "exactly two elements",
            fix="remove the elements after the model list",
        )


def _loader_verdict(part: Part | None, parse: Callable[[Any], Any]) -> Iterator[Finding]:
    if part is None:
        return
    try:
        parsed = parse(part.value)
    except LoaderError as exc:
        yield Finding(
            f"the client refuses this element: {exc.message}",
            exc.pointer,
            fix="see the MAN-/EXT- findings at the same place for details",
        )
        return
    if parsed == {}:
        yield Finding(
            "the client loads this element but finds no model in it (see EXT-002)",
            "/1/models",
            "at least one model",
            fix="list the models your API serves",
        )


@check(
    "EMB-003",
    MUST,
    "Element 0 is a manifest the client accepts",
    scope="embedded",
    requires="EMB-002",
    rationale="an embedded manifest must pass the manifest rules with models_data_source 'embedded'",
    source="loader error \"…must set models_data_source to 'embedded'\"",
)
def embedded_manifest(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    yield from _loader_verdict(ctx.manifest, lambda v: loader.parse_manifest(v, embedded=True, pointer="/0"))


@check(
    "EMB-004",
    MUST,
    "Element 1 is a model list the client accepts",
    scope="embedded",
    requires="EMB-002",
    rationale="element 1 must pass the extended-models MUST rules: a bad model drops the list, none leaves it empty",
    source="reference loader",
)
def embedded_models(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    yield from _loader_verdict(ctx.extended, lambda v: loader.accept_extended(v, pointer="/1"))


@check(
    "EMB-005",
    SHOULD,
    "The embedded and hosted forms yield the same models",
    scope="pair",
    rationale="users switch between the forms; both must show the same models the same way",
    source='Provider Defined docs: "both approaches produce the same model list"',
)
def same_models(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    hosted_part = ctx.hosted.extended if ctx.hosted else None
    try:
        embedded = loader.parse_extended(ctx.extended.value if ctx.extended else None)
        hosted = loader.parse_extended(hosted_part.value if hosted_part else None)
    except LoaderError as exc:
        yield Finding(f"one of the forms does not load, so they cannot agree: {exc.message}")
        return
    for model_id in sorted(embedded.keys() ^ hosted.keys()):
        only = "embedded" if model_id in embedded else "hosted"
        yield Finding(
            f"model {model_id!r} is only in the {only} form",
            jsondoc.join("/1/models", model_id),
            fix="publish the same model list in both forms",
        )
    for model_id in sorted(embedded.keys() & hosted.keys()):
        mine, theirs = embedded[model_id].to_json(), hosted[model_id].to_json()
        for key in sorted(mine.keys() | theirs.keys()):
            if mine.get(key) != theirs.get(key):
                yield Finding(
                    f"model {model_id!r}: {key} is {mine.get(key)!r} embedded, {theirs.get(key)!r} hosted",
                    jsondoc.join("/1/models", model_id),
                    fix="publish the same values in both forms",
                )


@check(
    "JSON-001",
    SHOULD,
    "No object repeats a key",
    scope="documents",
    rationale="JSON.parse keeps the last of duplicate keys, other parsers the first: readers disagree",
    source="RFC 8259 §4: names within an object SHOULD be unique",
)
def no_duplicate_keys(subject: Subject, ctx: CatalogContext) -> Iterator[Finding]:
    for document, pointer in ctx.repeated_keys():
        yield Finding(
            f"this key appears more than once in its object in {document}; the last value was kept",
            pointer,
            "each key once",
            fix="remove the earlier duplicates",
        )

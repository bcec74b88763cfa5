"""The published JSON Schemas, loaded once, compiled once, resolvable by each other's ``$id``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from conformance.resources import data_dir

NAMES = (
    "manifest",
    "extended-models",
    "embedded",
    "fixture-case",
    "report",
    "loader-io",
    "models-dev-api",
    "responses-api",
)


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((data_dir("schemas") / f"{name}.schema.json").read_text(encoding="utf-8"))


def load(name: str) -> dict[str, Any]:
    """The schema ``schemas/{name}.schema.json`` as a dict of the caller's own (free to change)."""
    return copy.deepcopy(_read(name))


@cache
def _registry() -> Registry:
    resources = [(_read(n)["$id"], Resource.from_contents(_read(n), default_specification=DRAFT7)) for n in NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str, fragment: str = "") -> Draft7Validator:
    """A compiled validator for a schema, or for one of its definitions (``fragment`` a JSON pointer)."""
    schema = _read(name)
    if fragment:
        schema = {"$ref": f"{schema['$id']}#{fragment}"}
    return Draft7Validator(schema, registry=_registry())


@cache
def fast(name: str, definition: str) -> Callable[[Any], bool]:
    """A predicate for one definition, compiled once to native code (jsonschema-rs): for the hot path over large
    catalogs, where nearly every value passes. ``True`` means the value passes; ``False`` means ask ``validator``,
    which decides and explains (the two read a few non-JSON values differently: Infinity, NaN)."""
    return compiled({"$ref": f"#/definitions/{definition}", "definitions": _read(name)["definitions"]})


def compiled(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """``schema`` as a native predicate (jsonschema-rs); ``False`` also for a value JSON cannot hold (a set,
    bytes, Infinity), which the caller's own reading then explains."""
    validator = jsonschema_rs.Draft7Validator(schema)

    def passes(value: Any) -> bool:
        try:
            return validator.is_valid(value)
        except ValueError:
            return False

    return passes

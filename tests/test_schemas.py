"""The published schemas: valid draft-07, self-describing, and agreeing with what the suite ships."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft7Validator

from conformance import schemas
from conformance.resources import data_dir


@pytest.mark.parametrize("name", schemas.NAMES)
def test_schema_is_valid_draft_07_with_id_and_title(name: str) -> None:
    schema = schemas.load(name)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"].endswith(f"/{name}.schema.json")
    assert schema["title"] and schema["description"]


def _properties(schema: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(schema, dict):
        for key, value in schema.get("properties", {}).items():
            yield f"{where}/properties/{key}", value
        for key, value in schema.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _properties(value, f"{where}/{index}")


@pytest.mark.parametrize("name", schemas.NAMES)
def test_every_property_is_described(name: str) -> None:
    bare = [
        where
        for where, prop in _properties(schemas.load(name))
        if isinstance(prop, dict) and "description" not in prop and "$ref" not in prop and "const" not in prop
    ]
    assert bare == []


def test_schema_files_are_exactly_the_published_ones() -> None:
    assert sorted(p.name for p in data_dir("schemas").glob("*.json")) == sorted(
        f"{n}.schema.json" for n in schemas.NAMES
    )


def test_the_shipped_good_example_matches_the_embedded_schema() -> None:
    document = json.loads((data_dir("examples") / "acme-embedded.json").read_text())
    assert schemas.validator("embedded").is_valid(document)


def test_the_shipped_broken_example_does_not() -> None:
    document = json.loads((data_dir("examples") / "acme-broken-embedded.json").read_text())
    assert not schemas.validator("embedded").is_valid(document)

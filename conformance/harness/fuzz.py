"""Differential fuzzing: generated provider data put to a loader and to the reference, until they disagree.

Inputs are fixture-case inputs (``fixtures/README.md``), so a disagreement, once hypothesis has shrunk it, is a
ready-to-commit corpus case. Most generated inputs are valid, or valid but odd in the ways real catalogs are
(zero limits, output above context, ``-1`` prices, names with trailing spaces, ids with ``/ : @ ~``); about one
in four is broken on purpose: a wrong type, a missing field, an OpenAI list, a manifest the client refuses, text
that is not strict JSON. Each choice is drawn so that its simplest value, the one hypothesis tries most and shrinks
towards, is the valid one: a shrunk disagreement keeps only the breakage it needs. Deterministic for a given seed
and loader.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from random import Random
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from conformance import corpus

_NUMBERS = st.one_of(st.integers(0, 2_000_000), st.sampled_from([0, 8192, 128000, 1e6, 0.5]))
_PRICES = st.one_of(st.sampled_from([0, 0.15, 3, 15, 0.0000005, -1]), st.integers(0, 100))
_WRONG = st.sampled_from(["128000", None, [], {}, True, "0.5", [1], ""])
_IDS = st.one_of(
    st.sampled_from(["acme/coder", "acme/vision", "m", "Orbit/Pro/Max", "orbit:latest", "a~b@2", "hf:org/x"]),
    st.text(alphabet="abz/:@~._-", min_size=1, max_size=6),
)
_MUTABLE = (
    ("limit", "context"),
    ("limit", "output"),
    ("cost", "input"),
    ("cost", "output"),
    ("attachment",),
    ("name",),
    ("modalities", "input"),
    ("modalities",),
    ("limit",),
    ("cost",),
    ("id",),
)
_MODEL = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["", "Acme Coder", "Trailing ", "Ünïcode"]),
        "display_name": st.sampled_from(["Shown", ""]),
        "id": _IDS,
        "attachment": st.booleans(),
        "reasoning": st.booleans(),
        "tool_call": st.booleans(),
        "supports_prompt_cache": st.sampled_from([True, False, "yes"]),
        "modalities": st.fixed_dictionaries(
            {},
            optional={
                "input": st.lists(st.sampled_from(["text", "image", "Image", "audio", "pdf"]), max_size=3, unique=True),
                "output": st.lists(st.sampled_from(["text", "image", "IMAGE", "embedding"]), max_size=2, unique=True),
            },
        ),
        "cost": st.fixed_dictionaries(
            {}, optional={"input": _PRICES, "output": _PRICES, "cache_read": _PRICES, "cache_write": _PRICES}
        ),
        "limit": st.fixed_dictionaries({}, optional={"context": _NUMBERS, "output": _NUMBERS}),
        "release_date": st.sampled_from(["2025-01-15", "2025-25-11", None]),
        "extra": st.sampled_from([{"deep": [[[1]]]}, None, "passes through"]),
    },
)
_BASE_URLS = st.sampled_from(
    [
        "https://api.acme.example/v1",
        "https://api.acme.example/v1/",
        "https://api.acme.example/v1?region=eu",
        "https://api.acme.example/v1/?region=eu&extended=full",
        "http://localhost:8080/v1",
        "https://api.acme.example",
        "api.acme.example/v1",
        "https://api.acme.example/v1 ",
        "https://api.acme.example/v1//",
        " https://api.acme.example/v1",
        "https:api.acme.example/v1",
        "ftp://api.acme.example/v1",
        "https://${ACME_HOST}/v1",
    ]
)
_ENDPOINTS = st.sampled_from(
    [
        "models/extended",
        "/v1/catalog?extended=1",
        "https://catalog.acme.example/models.json",
        "//cdn.acme.example/m",
        "",
        "https://[::1/m",
        "ftp://catalog.acme.example/m",
    ]
)
_HEADERS = st.dictionaries(
    st.sampled_from(["X-Team", "X-Region", "Accept-Version", "Authorization"]), st.sampled_from(["red", "eu"])
)
_TEXT_MUTATIONS: tuple[Callable[[str], str], ...] = (
    lambda text: "\ufeff" + text,
    lambda text: text[: len(text) // 2],
    lambda text: text.replace("}", "},", 1),
    lambda text: text.replace("0", "NaN", 1) if "0" in text else "NaN",
    lambda text: text.replace("1", "1e999", 1) if "1" in text else "1e999",
    lambda text: "[" * 65 + "]" * 65,
    lambda text: "[" * 300 + "]" * 300,
    lambda text: "  \n ",
    lambda text: text + " // pasted",
    lambda text: "\u00a0\n" + text + "\ufeff ",
    lambda text: text.replace("0", "1e400", 1) if "0" in text else "1e400",
)


@st.composite
def model_entries(draw: st.DrawFn) -> Any:
    """A model entry: usually one the client loads, sometimes one field of the wrong type, rarely not an object."""
    entry = draw(_MODEL)
    roll = draw(st.integers(0, 11))
    if roll >= 10:
        path = draw(st.sampled_from(_MUTABLE))
        node = entry
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = draw(_WRONG)
    elif roll == 9:
        return draw(_WRONG)
    return entry


@st.composite
def model_lists(draw: st.DrawFn) -> Any:
    """An extended-models response (or a models.dev provider entry): usually ``{"models": {...}}``."""
    models = draw(st.dictionaries(_IDS, model_entries(), max_size=3))
    roll = draw(st.integers(0, 15))
    if roll == 15:
        return {"object": "list", "data": [{"id": key, "object": "model"} for key in models]}
    if roll == 14:
        return {"models": list(models.values())}
    if roll == 13:
        return draw(_WRONG)
    return {"models": models}


@st.composite
def manifests(draw: st.DrawFn, source: str) -> Any:
    """A manifest for ``source``: usually one the client accepts, sometimes one it must refuse."""
    manifest: dict[str, Any] = {
        "name": "Acme AI",
        "website": "https://acme.example",
        "baseUrl": draw(_BASE_URLS),
        "models_data_source": source,
    }
    if source == "models_dev":
        manifest["models_dev_provider_id"] = draw(st.sampled_from(["acme", "acme.ai", "other", ""]))
    elif draw(st.integers(0, 7)) == 7:
        manifest["models_dev_provider_id"] = ""
    if draw(st.booleans()):
        manifest["headers"] = draw(_HEADERS)
    if draw(st.integers(0, 3)) == 3:
        manifest["models_endpoint"] = draw(_ENDPOINTS)
    if draw(st.integers(0, 5)) == 5:
        key = draw(st.sampled_from(["name", "website", "baseUrl", "models_data_source", "headers"]))
        if draw(st.booleans()):
            manifest.pop(key, None)
        else:
            manifest[key] = draw(_WRONG)
    return manifest


@st.composite
def embedded_inputs(draw: st.DrawFn) -> dict[str, Any]:
    value: Any = [draw(manifests("embedded")), draw(model_lists())]
    if draw(st.integers(0, 9)) == 9:
        value = draw(st.sampled_from([value[:1], [*value, {}], value[1], {"provider": value[0]}]))
    text = json.dumps(value, indent=draw(st.sampled_from([None, 2])), ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 5)) == 5:
        text = draw(st.sampled_from(_TEXT_MUTATIONS))(text)
    return {"kind": "embedded", "raw": text}


@st.composite
def hosted_inputs(draw: st.DrawFn) -> dict[str, Any]:
    source = draw(st.sampled_from(["endpoint", "endpoint", "models_dev"]))
    manifest = draw(manifests(source))
    case_input: dict[str, Any] = {"kind": "hosted", "manifest": manifest}
    if source == "models_dev":
        entries = draw(st.dictionaries(st.sampled_from(["acme", "acme.ai", "zeta"]), model_lists(), max_size=2))
        case_input["models_dev"] = entries
    else:
        case_input["extended"] = draw(model_lists())
    if draw(st.booleans()):
        case_input["headers"] = draw(_HEADERS)
    return case_input


def inputs() -> st.SearchStrategy[dict[str, Any]]:
    """Every kind of input a loader is given: pasted text, a hosted manifest and its list, a model list alone."""
    return st.one_of(
        embedded_inputs(), hosted_inputs(), model_lists().map(lambda value: {"kind": "extended", "json": value})
    )


def search(
    disagrees: Callable[[dict[str, Any]], bool], *, examples: int, seed: int | str, shrink: bool
) -> dict[str, Any] | None:
    """The first generated input on which ``disagrees`` holds, within ``examples`` tries, shrunk to the smallest
    one if ``shrink``; or ``None``. The same seed generates the same inputs, shrinking or not."""
    config = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    try:
        return find(inputs(), disagrees, settings=config, random=Random(seed))
    except NoSuchExample:
        return None


def corpus_case(case_input: dict[str, Any], seed: int | str) -> dict[str, Any]:
    """``case_input`` as a corpus case: a stable ID from its content, and the reference's conclusion."""
    digest = hashlib.sha256(json.dumps(case_input, sort_keys=True).encode()).hexdigest()[:10]
    expected = corpus.conclude(case_input)
    verdict = f"refuses it ({expected['error']})" if "error" in expected else "accepts it"
    return {
        "id": f"{case_input['kind']}-fuzz/{digest}",
        "description": f"Found by differential fuzzing (seed {seed}): the reference loader {verdict}.",
        "input": case_input,
        "expected": expected,
    }

"""What the reference provider publishes about itself: the manifest and its two model lists.

The two models are chosen to exercise both branches of every capability check: ``reference/coder`` reasons and
takes images, ``reference/mini`` does neither. Both are clean for every catalog check; the faults below turn
them into the classic mistakes, one at a time.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

NAME = "Reference Provider"
WEBSITE = "https://github.com/provider-conformance"
OWNER = "reference"

MODELS: dict[str, dict[str, Any]] = {
    "reference/coder": {
        "id": "reference/coder",
        "name": "Reference Coder",
        "attachment": True,
        "reasoning": True,
        "temperature": True,
        "tool_call": True,
        "release_date": "2025-06-01",
        "last_updated": "2025-09-01",
        "modalities": {"input": ["text", "image"], "output": ["text"]},
        "open_weights": False,
        "cost": {"input": 1, "output": 4, "cache_read": 0.1},
        "limit": {"context": 128000, "output": 8192},
        "interleaved": {"field": "reasoning_content"},
    },
    "reference/mini": {
        "id": "reference/mini",
        "name": "Reference Mini",
        "attachment": False,
        "reasoning": False,
        "temperature": True,
        "tool_call": True,
        "release_date": "2025-03-01",
        "last_updated": "2025-09-01",
        "modalities": {"input": ["text"], "output": ["text"]},
        "open_weights": False,
        "cost": {"input": 0.1, "output": 0.4},
        "limit": {"context": 32000, "output": 4096},
    },
}

Models = Mapping[str, dict[str, Any]]
"""A provider's models by id, as the catalogs publish them."""


def served(count: int = len(MODELS)) -> Models:
    """The first ``count`` models of a provider that serves that many, as a gateway does: the two above, then copies
    of them in turn (``reference/coder-003``, ``reference/mini-004``, …), so every capability branch stays covered
    whatever the count."""
    if count < 1:
        raise ValueError(f"a provider serves at least one model, not {count}")
    if count <= len(MODELS):
        return dict(list(MODELS.items())[:count])
    templates = list(MODELS.values())
    out = dict(MODELS)
    for number in range(len(MODELS) + 1, count + 1):
        template = templates[(number - 1) % len(templates)]
        model_id = f"{template['id']}-{number:03d}"
        out[model_id] = {**copy.deepcopy(template), "id": model_id, "name": f"{template['name']} {number}"}
    return out


MODELS_DEV_FAULTS = frozenset(
    {"models-dev-source", "models-dev-missing-provider", "models-dev-no-models", "models-dev-api-mismatch"}
)
LOOPBACK_TWIN = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
UNSENT_FIELD = "reasoning_details"
"""What ``interleaved-field-mismatch`` makes the catalog name: a reasoning field the wire never carries."""


def published(faults: frozenset[str], served: Models = MODELS) -> dict[str, dict[str, Any]]:
    """The ``served`` models as the catalogs publish them (a copy): ``interleaved-field-mismatch`` names the wrong
    field."""
    models = copy.deepcopy(dict(served))
    if "interleaved-field-mismatch" in faults:
        models["reference/coder"]["interleaved"] = {"field": UNSENT_FIELD}
    return models


def manifest(origin: str, faults: frozenset[str]) -> dict[str, Any]:
    """The hosted manifest; ``origin`` is the one the request came to, so baseUrl is always same-origin."""
    if "cross-origin-baseurl" in faults:
        parts = urlsplit(origin)
        twin = LOOPBACK_TWIN.get(parts.hostname or "", "127.0.0.1")
        origin = f"{parts.scheme}://{twin}" + (f":{parts.port}" if parts.port else "")
    if faults & MODELS_DEV_FAULTS:
        return {
            "name": NAME,
            "website": WEBSITE,
            "baseUrl": f"{origin}/v1",
            "models_data_source": "models_dev",
            "models_dev_provider_id": OWNER,
        }
    return {"name": NAME, "website": WEBSITE, "baseUrl": f"{origin}/v1", "models_data_source": "endpoint"}


def models_dev(origin: str, faults: frozenset[str], served: Models = MODELS) -> dict[str, Any]:
    """A models.dev ``api.json`` catalog holding this provider (``GET /api.json``), in the catalog's model shape."""
    models = {} if "models-dev-no-models" in faults else published(faults, served)
    for model in models.values():
        model["reasoning_options"] = [{"type": "toggle"}] if model["reasoning"] else None
        if model["reasoning_options"] is None:
            del model["reasoning_options"]
    api = f"{origin}/v2" if "models-dev-api-mismatch" in faults else f"{origin}/v1"
    provider = {
        "id": OWNER,
        "env": ["REFERENCE_API_KEY"],
        "npm": "@ai-sdk/openai-compatible",
        "api": api,
        "name": NAME,
        "doc": WEBSITE,
        "models": models,
    }
    other = {
        "id": "elsewhere",
        "env": ["ELSEWHERE_API_KEY"],
        "npm": "@ai-sdk/openai-compatible",
        "api": "https://api.elsewhere.example/v1",
        "name": "Elsewhere",
        "doc": "https://elsewhere.example",
        "models": {},
    }
    return {"elsewhere": other} if "models-dev-missing-provider" in faults else {OWNER: provider, "elsewhere": other}


def extended(faults: frozenset[str], served: Models = MODELS) -> Any:
    """The extended model list (``?extended=true``)."""
    models = published(faults, served)
    if "null-cost" in faults and "reference/mini" in models:
        models["reference/mini"]["cost"] = None
    if "string-numbers" in faults:
        models["reference/coder"]["limit"]["context"] = "128000"
    if "empty-models" in faults:
        models = {}
    if "models-as-list" in faults:
        return {"object": "list", "data": list(models.values())}
    return {"models": models}


def _created(model: dict[str, Any]) -> int:
    """A fixed ``created`` stamp (the release date), so the list is the same bytes every time."""
    day = datetime.date.fromisoformat(model["release_date"])
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp())


def model_list(faults: frozenset[str], served: Models = MODELS) -> Any:
    """The OpenAI model list (``GET /v1/models``)."""
    data = [
        {"id": key, "object": "model", "created": _created(model), "owned_by": OWNER}
        for key, model in served.items()
        if not (key == "reference/mini" and "missing-model-in-list" in faults)
    ]
    if "model-entry-no-object" in faults:
        data = [{k: v for k, v in entry.items() if k != "object"} for entry in data]
    if "model-entry-without-id" in faults:
        data.append({"object": "model", "name": "Reference Nameless", "owned_by": OWNER})
    if "bare-array-models" in faults:
        return data
    if "model-list-no-data" in faults:
        return {"object": "list", "models": data}
    return {"data": data} if "model-list-no-object" in faults else {"object": "list", "data": data}

"""Shipping Kilo Code (v7): what it makes of a provider's OpenAI model list and of its models.dev entry.

Shipping Kilo has no Provider Defined loader. A provider reaches it two ways, both read in Kilo-Org/kilocode:

- model discovery, for a configured provider with ``discoverModels`` (``packages/opencode/src/provider/provider.ts``
  at 00e3a1a, the ``discoveryLoaders`` of config providers; the same code is
  ``src/kilocode/provider/discover-models.ts`` at d22f4e4): ``GET new URL("models", baseURL + "/")`` with the
  configured headers and ``Authorization: Bearer <key>`` unless the headers name ``Authorization`` or
  ``authorization``; a non-2xx answer, a body that is not JSON or has no ``data`` array gives no model; each
  ``data[].id`` that is a non-empty string is a model named by its id, with context 0, output 0, prices 0 and no
  image input;
- models.dev (``fromModelsDevModel`` in the same provider.ts): limits as given (no fallback from output to
  context), prices defaulting to 0, image input only for the exact string ``"image"`` in ``modalities.input``,
  ``attachment`` its own capability (it turns nothing else on), the name as given (no fallback to the id), and
  models with ``status: "deprecated"`` (or ``"alpha"``, without the experimental flag) dropped.

Neither path refuses: what it cannot read, it leaves out. No prompt-caching flag exists there, so
``supportsPromptCache`` is never produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conformance import urls

DROPPED_STATUSES = ("deprecated", "alpha")
FIELDS = ("contextWindow", "maxTokens", "supportsImages", "inputPrice", "outputPrice", "displayName")
"""What shipping Kilo shows that the loader protocol names."""


def discovery_url(base_url: str) -> str | None:
    """``new URL("models", baseURL + "/")``, or ``None`` where it throws (then there is no model)."""
    parsed = urls.whatwg_parse("models", base_url if base_url.endswith("/") else f"{base_url}/")
    return parsed.href if parsed is not None else None


def discovery_headers(headers: Mapping[str, str], api_key: str | None) -> dict[str, str]:
    """The configured headers, then ``Authorization: Bearer <key>`` unless they name it in either spelling."""
    out = dict(headers)
    if api_key and "Authorization" not in out and "authorization" not in out:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def discovered(status: int, body: bytes | str) -> dict[str, dict[str, Any]]:
    """The models discovery adds, by id, for an answer with this status and body."""
    if not 200 <= status < 300:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    data = value.get("data") if isinstance(value, dict) else None
    if not isinstance(data, list):
        return {}
    models: dict[str, dict[str, Any]] = {}
    for item in data:
        model_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(model_id, str) and model_id:
            models[model_id] = {
                "contextWindow": 0,
                "maxTokens": 0,
                "supportsImages": False,
                "inputPrice": 0,
                "outputPrice": 0,
                "displayName": model_id,
            }
    return models


def map_models_dev_model(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One models.dev model as shipping Kilo shows it; a value the entry does not give is left out."""
    limit = entry.get("limit") if isinstance(entry.get("limit"), dict) else {}
    cost = entry.get("cost") if isinstance(entry.get("cost"), dict) else {}
    modalities = entry.get("modalities") if isinstance(entry.get("modalities"), dict) else {}
    inputs = modalities.get("input")
    shown = {
        "contextWindow": limit.get("context"),
        "maxTokens": limit.get("output"),
        "supportsImages": isinstance(inputs, list) and "image" in inputs,
        "inputPrice": cost.get("input") if cost.get("input") is not None else 0,
        "outputPrice": cost.get("output") if cost.get("output") is not None else 0,
        "displayName": entry.get("name"),
    }
    return {key: value for key, value in shown.items() if value is not None}


def models_dev_models(catalog: Any, provider_id: str) -> dict[str, dict[str, Any]]:
    """The models shipping Kilo shows for a provider of a models.dev catalog (none for a provider not in it)."""
    provider = catalog.get(provider_id) if isinstance(catalog, dict) else None
    models = provider.get("models") if isinstance(provider, dict) else None
    if not isinstance(models, dict):
        return {}
    return {
        model_id: map_models_dev_model(entry)
        for model_id, entry in models.items()
        if isinstance(entry, dict) and entry.get("status") not in DROPPED_STATUSES
    }

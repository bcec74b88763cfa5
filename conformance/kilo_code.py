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

Discovery never refuses: what it cannot read, it leaves out. The models.dev mapping reads the catalog as parsed,
with no schema (``packages/opencode/src/provider/models.ts`` at 0402248), and maps every provider of it: an entry
it throws on (a model that is not an object or has no ``limit``, a ``modalities`` list that is not an array or a
string, ``env`` that cannot be spread) stops the providers from loading, so it is refused here. No prompt-caching
flag exists there, so ``supportsPromptCache`` is never produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conformance import urls
from conformance.errors import LoaderError

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


def _entries(value: Any) -> list[tuple[str, Any]] | None:
    """``Object.entries(value)``: ``None`` where it throws (``undefined``, ``null``)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list | str):
        return [(str(i), item) for i, item in enumerate(value)]
    return []


def _image_input(modalities: Any, pointer: str) -> bool:
    """``model.modalities?.input?.includes("image") ?? false``, for every list Kilo reads with ``includes``: an
    array matches the exact string, a string any substring, and anything else that is not null throws."""
    if not isinstance(modalities, dict):
        return False
    for side in ("input", "output"):
        value = modalities.get(side)
        if value is not None and not isinstance(value, list | str):
            raise LoaderError(
                "model-type", f"modalities.{side} is not a list: Kilo calls its includes()", f"{pointer}/modalities"
            )
    inputs = modalities.get("input")
    return inputs is not None and "image" in inputs


def _js_string(value: Any) -> str:
    """A value as a JavaScript template literal writes it (``undefined`` for a missing one)."""
    if isinstance(value, str):
        return value
    return "undefined" if value is _MISSING else json.dumps(value)


_MISSING = object()


def _prices(cost: Any, pointer: str) -> tuple[Any, Any]:
    """provider.ts ``cost()``: ``c?.input ?? 0`` and ``c?.output ?? 0``; tiers, when given, are mapped (so must be
    an array)."""
    if not isinstance(cost, dict):
        return 0, 0
    if cost.get("tiers") not in (None, False, 0, "") and not isinstance(cost["tiers"], list):
        raise LoaderError("model-type", "cost.tiers is not a list: Kilo maps it", f"{pointer}/cost/tiers")
    return (
        cost["input"] if cost.get("input") is not None else 0,
        cost["output"] if cost.get("output") is not None else 0,
    )


def map_models_dev_model(entry: Any, pointer: str = "") -> dict[str, Any]:
    """One models.dev model as shipping Kilo shows it (``fromModelsDevModel``); a value the entry does not give is
    left out. An entry Kilo's mapping throws on is refused: one that is not an object, or has no ``limit``."""
    if not isinstance(entry, dict):
        raise LoaderError("model-not-object", "a model entry is not an object: Kilo reads model.id", pointer)
    limit = entry.get("limit")
    if limit is None:
        raise LoaderError("model-type", "limit is missing: Kilo reads limit.context", pointer)
    limit = limit if isinstance(limit, dict) else {}
    input_price, output_price = _prices(entry.get("cost"), pointer)
    shown = {
        "contextWindow": limit.get("context"),
        "maxTokens": limit.get("output"),
        "supportsImages": _image_input(entry.get("modalities"), pointer),
        "inputPrice": input_price,
        "outputPrice": output_price,
        "displayName": entry.get("name"),
    }
    return {key: value for key, value in shown.items() if value is not None}


def _modes(entry: dict[str, Any], base: dict[str, Any], pointer: str) -> dict[str, dict[str, Any]]:
    """``fromModelsDevProvider``: each of ``experimental.modes`` is one more model, ``<id>-<mode>``, named
    ``<name> <Mode>``, its prices from the mode's own cost when it has one."""
    experimental = entry.get("experimental")
    modes = _entries(experimental.get("modes") if isinstance(experimental, dict) else None) or []
    out = {}
    for mode, opts in modes:
        if not mode:
            raise LoaderError("model-type", "an experimental mode has an empty name", f"{pointer}/experimental/modes")
        model = dict(base, displayName=f"{_js_string(entry.get('name', _MISSING))} {mode[0].upper()}{mode[1:]}")
        cost = opts.get("cost") if isinstance(opts, dict) else None
        if cost:
            model["inputPrice"], model["outputPrice"] = _prices(cost, f"{pointer}/experimental/modes/{mode}")
        out[f"{_js_string(entry.get('id', _MISSING))}-{mode}"] = model
    return out


def _provider_models(provider: Any, pointer: str) -> dict[str, dict[str, Any]]:
    """``fromModelsDevProvider`` for one provider of the catalog: its models, each by its key, and their modes."""
    if not isinstance(provider, dict):
        raise LoaderError("extended-not-object", "a provider of the catalog is not an object", pointer)
    env = provider.get("env")
    if env is not None and not isinstance(env, list | str):
        raise LoaderError("models-dev-entry", "env is not a list: Kilo spreads it", f"{pointer}/env")
    entries = _entries(provider.get("models"))
    if entries is None:
        raise LoaderError("models-not-object", "the provider has no models object", f"{pointer}/models")
    models: dict[str, dict[str, Any]] = {}
    for key, entry in entries:
        where = f"{pointer}/models/{key}"
        models[key] = map_models_dev_model(entry, where)
        models.update(_modes(entry, models[key], where))
    return models


def models_dev_models(catalog: Any, provider_id: str) -> dict[str, dict[str, Any]]:
    """The models shipping Kilo shows for a provider of a models.dev catalog (none for a provider not in it).

    Kilo maps every provider of the catalog before it looks one up (``mapValues(modelsDev,
    fromModelsDevProvider)``), reading the catalog as it was parsed, with no schema (``models.ts``): an entry
    anywhere in it that the mapping throws on stops the providers from loading, and is refused here."""
    if not isinstance(catalog, dict):
        raise LoaderError("models-dev-not-object", "the catalog is not an object keyed by provider id")
    mapped = {key: _provider_models(provider, f"/{key}") for key, provider in catalog.items()}
    statuses = _statuses(catalog.get(provider_id))
    return {
        model_id: shown
        for model_id, shown in mapped.get(provider_id, {}).items()
        if statuses.get(model_id) not in DROPPED_STATUSES
    }


def _statuses(provider: Any) -> dict[str, Any]:
    """Each model's ``status``, its modes' too (they are copies of it)."""
    out = {}
    for key, entry in _entries(provider.get("models") if isinstance(provider, dict) else None) or []:
        status = entry.get("status") if isinstance(entry, dict) else None
        out[key] = status
        for mode_id in _modes(entry, {}, "") if isinstance(entry, dict) else {}:
            out[mode_id] = status
    return out

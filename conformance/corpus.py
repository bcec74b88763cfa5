"""The language-neutral fixture corpus (``fixtures/``) and what the reference implementation concludes of a case.

``conclude`` is the contract of ``fixtures/README.md`` in code: for one case input it returns what the case's
``expected`` must be. The suite's own tests compare the two for every case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from conformance import kilo_code, loader, runner, schemas
from conformance.catalogue import get
from conformance.errors import LoaderError
from conformance.findings import Outcome, Severity
from conformance.resources import data_dir
from conformance.target import CatalogContext, Part

FORMS = ("embedded", "manifest", "extended", "hosted", "discover", "catalog")
PROVIDER_DEFINED = ("embedded", "manifest", "extended", "hosted")
"""The input kinds of the Provider Defined loader; ``discover`` and ``catalog`` are shipping Kilo Code's."""


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    input: dict[str, Any]
    expected: dict[str, Any]
    file: Path


def files(root: Path | None = None) -> list[Path]:
    """Every topic file of the corpus, in a stable order."""
    return sorted((root or data_dir("fixtures")).glob("*/*.json"))


@cache
def cases(root: Path | None = None) -> tuple[Case, ...]:
    """Every case of the corpus; a file that does not match the fixture schema is a ``ValueError``."""
    found = []
    for path in files(root):
        data = json.loads(path.read_text(encoding="utf-8"))
        errors = list(schemas.validator("fixture-case").iter_errors(data))
        if errors:
            raise ValueError(f"{path}: {errors[0].message} at {'/'.join(map(str, errors[0].absolute_path))}")
        found += [Case(c["id"], c["description"], c["input"], c["expected"], path) for c in data]
    return tuple(found)


def _embedded_text(case_input: dict[str, Any]) -> str:
    return case_input["raw"] if "raw" in case_input else json.dumps(case_input["json"])


def context(case_input: dict[str, Any]) -> CatalogContext:
    """The catalog context a case input stands for."""
    kind = case_input["kind"]
    if kind == "discover":
        return CatalogContext("discover")  # an OpenAI list: the live checks' (LST-001), none offline
    if kind == "catalog":
        return CatalogContext.from_catalog(Part(case_input["json"]), provider_id=case_input["provider_id"])
    if kind == "embedded":
        pair = case_input.get("hosted")
        hosted = CatalogContext.from_hosted(Part(pair["manifest"]), Part(pair["extended"])) if pair else None
        return CatalogContext.from_embedded(_embedded_text(case_input), hosted=hosted)
    if kind == "manifest":
        return CatalogContext.from_hosted(Part(case_input["json"]), None, manifest_url=case_input.get("manifest_url"))
    if kind == "extended":
        return CatalogContext.from_extended(Part(case_input["json"]))
    manifest = case_input["manifest"]
    if "models_dev" in case_input:
        provider_id = manifest.get("models_dev_provider_id") if isinstance(manifest, dict) else None
        return CatalogContext.from_hosted(
            Part(manifest),
            None,
            manifest_url=case_input.get("manifest_url"),
            models_dev=Part(case_input["models_dev"]),
            models_dev_provider_id=provider_id if isinstance(provider_id, str) else None,
        )
    return CatalogContext.from_hosted(
        Part(manifest), Part(case_input["extended"]), manifest_url=case_input.get("manifest_url")
    )


def shown(case_input: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The models a case input shows, in the loader protocol's form: by shipping Kilo Code for ``discover`` and
    ``catalog`` inputs, by the Provider Defined reference loader for the others (``None`` for a manifest alone)."""
    kind = case_input["kind"]
    if kind == "discover":
        body = json.dumps(case_input["response"])
        return kilo_code.discovered(case_input.get("status", 200), body)
    if kind == "catalog":
        return kilo_code.models_dev_models(case_input["json"], case_input["provider_id"])
    models = load(case_input)
    return None if models is None else {model_id: model.to_json() for model_id, model in models.items()}


def load(case_input: dict[str, Any]) -> dict[str, loader.ClientModel] | None:
    """What the reference loader makes of a case input: its models (``None`` for a manifest alone)."""
    kind = case_input["kind"]
    if kind == "embedded":
        return loader.load_embedded(_embedded_text(case_input)).models
    if kind == "manifest":
        loader.parse_manifest(case_input["json"])
        for problem in loader.fetch_problems(case_input["json"]):
            raise problem.error()
        return None
    if kind == "extended":
        return loader.parse_extended(case_input["json"])
    if "models_dev" in case_input:
        return loader.load_models_dev(case_input["manifest"], case_input["models_dev"]).models
    return loader.load_hosted(case_input["manifest"], case_input["extended"]).models


def conclude(case_input: dict[str, Any]) -> dict[str, Any]:
    """What a case's ``expected`` must be for ``case_input``, by the reference loader and checks."""
    results = runner.evaluate(context(case_input))
    broken = [r for r in results if r.outcome is Outcome.ERROR]
    if broken:
        raise RuntimeError(f"check {broken[0].check_id} could not run: {broken[0].note}")
    flagged = {r.check_id for r in results if r.outcome in (Outcome.FAILED, Outcome.WARNED)}
    out: dict[str, Any] = {
        "valid": not any(get(cid).severity is Severity.MUST for cid in flagged),
        "violations": sorted(flagged),
    }
    try:
        models = shown(case_input)
    except LoaderError as exc:
        out["error"] = exc.code
        out["stage"] = exc.stage
        return out
    if models is not None:
        out["models"] = models
    return out


def failing(check_id: str) -> Iterator[Case]:
    """The cases on which ``check_id`` reports a finding."""
    return (c for c in cases() if check_id in c.expected["violations"])

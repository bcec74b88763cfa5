"""What a run looks at, offline: the documents of one provider, and the subjects checks are made for."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from conformance import jsondoc, loader
from conformance.catalogue import Check
from conformance.errors import LoaderError

FORMS = ("embedded", "hosted", "manifest", "extended", "catalog")
_SCOPE_FORMS = {
    "embedded": ("embedded",),
    "manifest": ("embedded", "hosted", "manifest"),
    "extended": ("embedded", "hosted", "extended"),
    "model": ("embedded", "hosted", "extended"),
    "pair": ("embedded",),
    "models-dev": ("hosted", "catalog"),
    "documents": FORMS,
}


@dataclass(frozen=True)
class Part:
    """One document the checks read: its value, where it sits for pointers, and why it could not be read."""

    value: Any = None
    pointer: str = ""
    error: LoaderError | None = None
    served_as: str | None = None
    """How it was served when that is wrong although the body reads (a hosted manifest as text/html, say)."""
    duplicate_keys: tuple[str, ...] = ()
    """Pointers of members whose key the document repeats (a fetched document; pasted JSON keeps them whole)."""


@dataclass(frozen=True)
class Subject:
    """What one item is about. ``blocked`` says why its check cannot look (a structural check failed)."""

    name: str
    value: Any = None
    pointer: str = ""
    blocked: str | None = None


@dataclass(frozen=True)
class CatalogContext:
    """One provider's catalog data, in one of five forms.

    ``embedded``: pasted JSON (``document`` holds the whole array, ``manifest``/``extended`` its elements);
    ``hosted``: a fetched manifest and its extended-models response or models.dev catalog; ``manifest`` /
    ``extended``: one alone; ``catalog``: a models.dev catalog on its own (every provider, or the one named).
    """

    form: str
    manifest: Part | None = None
    extended: Part | None = None
    document: Part | None = None
    manifest_url: str | None = None
    duplicate_keys: tuple[str, ...] = ()
    hosted: CatalogContext | None = None
    """The same provider in hosted form, to compare the model lists (EMB-005)."""
    unusable: str = ""
    """Why the parts could not be taken out of the document (embedded JSON that does not parse)."""
    models_dev: Part | None = None
    """The models.dev catalog a ``models_dev`` manifest names, and the provider id it names in it."""
    models_dev_provider_id: str | None = None
    reading: jsondoc.Document | None = None
    """How the pasted text read (a byte-order mark, numbers read as Infinity, its depth), for JSON-002."""
    passes: dict[tuple[str, str, str], bool] = field(default_factory=dict, compare=False, repr=False)
    """Whether a check had no finding on a subject (by check ID, scope and subject name): the runner's memo, so a
    structural check is not run again for every check that requires it."""

    @classmethod
    def from_embedded(
        cls, raw: bytes | str, *, max_bytes: int = jsondoc.DEFAULT_MAX_BYTES, hosted: CatalogContext | None = None
    ) -> CatalogContext:
        try:
            doc = loader.read_embedded(raw, max_bytes=max_bytes)
        except LoaderError as exc:
            return cls(
                "embedded",
                document=Part(error=exc),
                hosted=hosted,
                unusable="the pasted text is not valid JSON (see EMB-001)",
            )
        value = doc.value
        if next(loader.embedded_shape_problems(value), None):
            return cls(
                "embedded",
                document=Part(value),
                duplicate_keys=doc.duplicate_keys,
                hosted=hosted,
                unusable="the pasted JSON is not a [manifest, models] array (see EMB-002)",
                reading=doc,
            )
        return cls(
            "embedded",
            manifest=Part(value[0], "/0"),
            extended=Part(value[1], "/1"),
            document=Part(value),
            duplicate_keys=doc.duplicate_keys,
            hosted=hosted,
            reading=doc,
        )

    @classmethod
    def from_hosted(
        cls,
        manifest: Part,
        extended: Part | None,
        *,
        manifest_url: str | None = None,
        models_dev: Part | None = None,
        models_dev_provider_id: str | None = None,
    ) -> CatalogContext:
        form = "hosted" if extended is not None or models_dev is not None else "manifest"
        return cls(
            form,
            manifest=manifest,
            extended=extended,
            manifest_url=manifest_url,
            models_dev=models_dev,
            models_dev_provider_id=models_dev_provider_id,
        )

    @classmethod
    def from_catalog(cls, catalog: Part, *, provider_id: str | None = None) -> CatalogContext:
        """A models.dev catalog on its own: every provider in it, or the one named."""
        return cls("catalog", models_dev=catalog, models_dev_provider_id=provider_id)

    @classmethod
    def from_extended(cls, extended: Part) -> CatalogContext:
        return cls("extended", extended=extended)

    @property
    def embedded(self) -> bool:
        return self.form == "embedded"

    @cached_property
    def _model_subjects(self) -> list[Subject]:
        """One subject per model entry, made once for all the model checks."""
        models, part = self.model_entries() or {}, self.extended
        where = jsondoc.join(part.pointer if part else "", "models")
        return [Subject(key, entry, jsondoc.join(where, key)) for key, entry in models.items()]

    @cached_property
    def provider_names(self) -> dict[str, list[str]]:
        """The models.dev catalog's provider ids by case-folded name, made once for all its providers."""
        catalog = self.models_dev.value if self.models_dev else None
        names: dict[str, list[str]] = {}
        for key, provider in catalog.items() if isinstance(catalog, dict) else ():
            if isinstance(provider, dict) and isinstance(provider.get("name"), str):
                names.setdefault(provider["name"].casefold(), []).append(key)
        return names

    def repeated_keys(self) -> list[tuple[str, str]]:
        """Every repeated key, as (the document it is in, its pointer there)."""
        found = [("the pasted JSON", p) for p in self.duplicate_keys]
        for label, part in (
            ("the manifest", self.manifest),
            ("the model list", self.extended),
            ("the models.dev catalog", self.models_dev),
        ):
            found += [(label, p) for p in (part.duplicate_keys if part else ())]
        return found

    def model_entries(self) -> dict[str, Any] | None:
        """The extended document's ``models`` object, or ``None`` when there is no usable one."""
        value = self.extended.value if self.extended else None
        models = value.get("models") if isinstance(value, dict) else None
        return models if isinstance(models, dict) else None

    def subjects(self, check: Check) -> list[Subject]:
        """The subjects ``check`` makes items for here; none when it does not apply to this context."""
        if self.form not in _SCOPE_FORMS[check.scope] or (check.applies and not check.applies(self)):
            return []
        if check.scope == "embedded":
            return [Subject("embedded", self.document.value if self.document else None)]
        if check.scope == "pair":
            return [Subject("embedded-vs-hosted")] if self.hosted else []
        if check.scope == "documents":
            broken = self.document is not None and self.document.error is not None
            return [Subject("documents", blocked="the pasted text is not valid JSON (see EMB-001)" if broken else None)]
        if check.scope == "models-dev":
            if self.models_dev is None:
                return []
            catalog = self.models_dev.value
            if self.models_dev_provider_id or self.form == "hosted":
                names = [self.models_dev_provider_id or "models.dev"]
            elif isinstance(catalog, dict) and self.models_dev.error is None:
                names = list(catalog)
            else:
                names = ["catalog"]
            return [Subject(name, catalog) for name in names]
        name, part = ("manifest", self.manifest) if check.scope == "manifest" else ("models", self.extended)
        if part is None:
            # embedded JSON that did not parse: blocked; a hosted provider whose models come from models.dev: no
            # extended list to check at all
            return [Subject(name, blocked=self.unusable)] if self.unusable else []
        if check.scope == "model":
            models = self.model_entries()
            if models is None:
                return [Subject(name, blocked="there is no model list to check (see EXT-001)")]
            return self._model_subjects
        return [Subject(name, part.value, part.pointer)]

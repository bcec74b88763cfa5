"""The fixture corpus: every case's expected conclusion is what the reference loader and checks conclude."""

from __future__ import annotations

from collections import Counter

import pytest

from conformance import corpus
from conformance.catalogue import catalogue
from conformance.resources import data_dir

CASES = corpus.cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: corpus.Case) -> None:
    assert corpus.conclude(case.input) == case.expected, case.description


def test_every_catalog_check_fails_on_some_case() -> None:
    """No catalog check that cannot fail: each is shown failing by the corpus (``test_case`` proves it does)."""
    flagged = {cid for case in CASES for cid in case.expected["violations"]}
    never = [c.id for c in catalogue() if not c.live and c.id not in flagged]
    assert never == [], f"checks no corpus case makes fail: {never}"


def test_clean_cases_exist_in_every_form_and_no_check_flags_them() -> None:
    clean = Counter(c.input["kind"] for c in CASES if c.expected == {**c.expected, "valid": True, "violations": []})
    assert all(clean[form] >= 1 for form in corpus.FORMS), clean


def test_the_corpus_is_large_enough_and_ids_are_unique_and_stable_in_form() -> None:
    assert len(CASES) >= 100
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        topic = f"{case.file.parent.name}-{case.file.stem}"
        assert case.id.startswith(topic + "/"), f"{case.id} is in {case.file}"
        assert case.input["kind"] == case.file.parent.name
        assert case.expected["violations"] == sorted(case.expected["violations"])


def test_the_corpus_version_is_one_semver_line() -> None:
    version = (data_dir("fixtures") / "VERSION").read_text().strip()
    assert version.count(".") == 2 and all(part.isdigit() for part in version.split("."))

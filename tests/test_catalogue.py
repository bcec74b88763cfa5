"""The catalogue: every check complete and registered once; the command line lists them all."""

from __future__ import annotations

import pytest

from conformance import catalogue, cli
from conformance.findings import Severity


@pytest.mark.parametrize("check", catalogue.catalogue(), ids=lambda c: c.id)
def test_every_check_is_complete(check: catalogue.Check) -> None:
    assert isinstance(check.severity, Severity)
    assert check.title and check.rationale and check.source
    assert check.func.__doc__ is None or check.func.__doc__.strip()
    if check.requires:
        assert catalogue.get(check.requires).scope == check.scope


def test_an_id_belongs_to_one_function() -> None:
    existing = catalogue.catalogue()[0]

    def impostor(subject: object, context: object) -> list[object]:
        return []

    with pytest.raises(ValueError, match="registered twice"):
        catalogue.check(existing.id, existing.severity, "again", scope=existing.scope, rationale="r", source="s")(
            impostor
        )
    assert catalogue.get(existing.id).func is existing.func


@pytest.mark.parametrize("bad", ["EXT-1", "ext-001", "FOO-001"])
def test_ids_follow_the_catalogue_form(bad: str) -> None:
    with pytest.raises(ValueError, match="not of the form"):
        catalogue.check(bad, Severity.MUST, "t", scope="manifest", rationale="r", source="s")


def test_checks_command_lists_the_whole_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["checks"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:] if not line.startswith(" ")]
    assert [row[0] for row in rows] == [c.id for c in catalogue.catalogue()]
    assert all(row[1] in {"MUST", "SHOULD", "INFO"} for row in rows)

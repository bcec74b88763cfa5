"""The ``provider-conformance`` command and the command line a user types first: the catalogue as a table or
JSON, secrets refused without being echoed, typos answered with the option that was meant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conformance import cli
from conformance.catalogue import catalogue
from conformance.resources import data_dir

pytest_plugins = ["pytester"]
SCRIPT = Path(sys.executable).with_name("provider-conformance")
SECRET = "sk-live-0123456789abcdef"


def test_checks_is_a_table_with_a_header_rationale_and_source_within_the_width(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["checks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "TITLE,", "why,", "source"]
    assert max(len(line) for line in lines) <= cli.MAX_WIDTH
    first = catalogue()[0]
    text = " ".join(line.strip() for line in lines)
    assert f"why: {first.rationale}" in text and f"source: {first.source}" in text


def test_checks_as_json_holds_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["checks", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [c.id for c in catalogue()]
    assert set(rows[0]) == {"id", "severity", "title", "rationale", "source", "kind"}


@pytest.mark.parametrize("option", [f"--api-key={SECRET}", "--key", "--token", f"--auth-token={SECRET}"])
def test_an_option_that_would_carry_a_secret_is_refused_without_echoing_it(
    pytester: pytest.Pytester, option: str
) -> None:
    result = pytester.runpytest(option, SECRET, "--reference-provider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    name = option.partition("=")[0]
    result.stderr.fnmatch_lines([f"ERROR: {name}: secrets are never taken from the command line*PROVIDER_API_KEY*"])
    assert SECRET not in result.stdout.str() + result.stderr.str()


def test_a_typo_gets_a_did_you_mean(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--reference-provider", "--latency-sample=3", "--frobnicate=x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: unrecognized option --latency-sample; did you mean --latency-samples?",
            "unrecognized option --frobnicate (pytest --help lists the options)",
        ]
    )


def test_the_command_refuses_secrets_and_typos_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", f"--api-key={SECRET}"])
    assert exited.value.code == 4
    with pytest.raises(SystemExit):
        cli.main(["checks", "--fromat=json"])
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "--api-key: secrets are never taken from the command line" in err
    assert "unrecognized option --fromat; did you mean --format?" in err


def test_check_on_a_clean_provider_ends_clean(pytester: pytest.Pytester) -> None:
    result = pytester.run(str(SCRIPT), "check", str(data_dir("examples") / "acme-embedded.json"), "--offline")
    assert result.ret == 0
    assert "warning" not in result.outlines[-1] and "passed" in result.outlines[-1]
    assert "PytestAssertRewriteWarning" not in result.stdout.str() + result.stderr.str()


def test_paths_names_the_packaged_data_a_wheel_user_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["paths"]) == 0
    listed = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert set(listed) == {"examples:", "loaders:", "fixtures:", "schemas:"}
    assert all(Path(path).is_dir() for path in listed.values())
    assert cli.main(["paths", "loaders"]) == 0
    loaders = Path(capsys.readouterr().out.strip())
    assert (loaders / "loader.js").is_file() and (loaders / "buggy-loader.js").is_file()

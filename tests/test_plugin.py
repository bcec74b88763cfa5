"""The pytest plugin end to end, as a provider runs it: in an empty folder, with real files and exit codes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conformance import report
from conformance.battery import GROUP_ABOVE
from conformance.catalogue import catalogue
from conformance.findings import Severity
from conformance.resources import data_dir
from tests.conftest import GOOD_MODEL, embedded, outcomes, run, shared_file, write_json

pytest_plugins = ["pytester"]
GOOD = data_dir("examples") / "acme-embedded.json"
BROKEN = data_dir("examples") / "acme-broken-embedded.json"
BROKEN_MUST = {"MAN-004", "MAN-005", "EXT-003", "EMB-003", "EMB-004"}


def test_a_good_provider_passes_in_an_empty_folder(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--offline", f"--provider-json={GOOD}")
    assert result.ret == 0
    assert report.schema_errors(data) == []
    assert outcomes(data, "failed") == outcomes(data, "warned") == set()
    assert data["target"] == {"kind": "provider-json", "where": str(GOOD)}
    assert data["profiles"]["kilo-provider-defined"]["verdict"] == "works"
    assert data["profiles"]["roo-code"]["verdict"] == "not-applicable"
    result.stdout.fnmatch_lines(
        [
            "*provider conformance*",
            "client verdicts:",
            "  kilo-code: not applicable  [[]ai 6.0.168 + @ai-sdk/openai-compatible 2.0.48 (npm)[]]",
            "  kilo-provider-defined (unreleased PR loader): works  [[]axios + zod 3.25*",
        ]
    )


def test_a_broken_provider_fails_with_the_right_ids(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--offline", f"--provider-json={BROKEN}")
    assert result.ret == 1
    assert report.schema_errors(data) == []
    assert outcomes(data, "failed") == BROKEN_MUST
    assert outcomes(data, "warned") == {"MAN-009"}
    verdict = data["profiles"]["kilo-provider-defined"]
    assert (verdict["verdict"], verdict["breaks"]) == ("breaks", sorted(BROKEN_MUST))
    result.assert_outcomes(failed=len(BROKEN_MUST), passed=17, skipped=9, warnings=1)


def test_a_failure_prints_the_finding_not_a_traceback(pytester: pytest.Pytester) -> None:
    result, _ = run(pytester, "--offline", f"--provider-json={BROKEN}")
    result.stdout.fnmatch_lines(
        [
            "*EXT-003 [[]MUST[]] Every model entry has the types the client requires",
            "subject: acme/coder-large    input: *acme-broken-embedded.json",
            "  - `limit.context` is a string, not a number",
            "      at:       /1/models/acme~1coder-large/limit/context",
            "      expected: a number",
            '      found:    "200000"',
            "      fix:      write the number without quotes",
            "why: *",
            "source: *",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED conformance::EXT-003[[]acme/coder-large[]]*"])


def test_should_findings_are_warnings_and_fail_only_under_strict(pytester: pytest.Pytester) -> None:
    source = write_json(
        pytester.path / "p.json", embedded(models={"m": {**GOOD_MODEL, "id": "m", "limit": {"context": 8000}}})
    )
    result, data = run(pytester, "--offline", f"--provider-json={source}")
    assert result.ret == 0
    assert outcomes(data, "warned") == {"EXT-005"}
    result.stdout.fnmatch_lines(["*ConformanceWarning: EXT-005 [[]SHOULD[]]*", "SHOULD warnings (1):"])
    strict, data = run(pytester, "--offline", f"--provider-json={source}", "--strict")
    assert strict.ret == 1
    assert outcomes(data, "failed") == {"EXT-005"}


def test_selection_by_id_and_severity(pytester: pytest.Pytester) -> None:
    by_id = pytester.runpytest("--offline", f"--provider-json={GOOD}", "--collect-only", "-q", "-k", "EXT-003")
    assert [line for line in by_id.outlines if line.startswith("conformance::")] == [
        "conformance::EXT-003[acme/coder-large]",
        "conformance::EXT-003[acme/coder-mini]",
    ]
    by_mark = pytester.runpytest("--offline", f"--provider-json={GOOD}", "--collect-only", "-q", "-m", "should")
    ids = {line.split("::")[1].split("[")[0] for line in by_mark.outlines if line.startswith("conformance::")}
    should = {c.id for c in catalogue() if c.severity is Severity.SHOULD}
    assert ids and ids <= should
    assert {"MAN-008", "EXT-005", "JSON-001"} <= ids


def test_deselected_checks_are_not_run(pytester: pytest.Pytester) -> None:
    result, data = run(pytester, "--offline", f"--provider-json={BROKEN}", "-k", "MAN-")
    assert result.ret == 1
    assert {r["id"][:3] for r in data["results"]} == {"MAN"}
    assert "EXT-003" not in outcomes(data, "failed")


def test_without_a_target_the_plugin_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert "provider conformance" not in result.stdout.str()
    markers = pytester.runpytest("--markers").stdout.str()
    assert "conformance checks of severity" not in markers


def test_with_a_target_a_projects_own_tests_run_only_when_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    alone = pytester.runpytest("--offline", f"--provider-json={GOOD}", "--collect-only", "-q")
    assert not any("test_own" in line for line in alone.outlines)
    both = pytester.runpytest("--offline", f"--provider-json={GOOD}", "--collect-only", "-q", "test_own.py")
    assert any("test_own" in line for line in both.outlines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider-json=missing.json"], "ERROR: --provider-json=missing.json: no such file"),
        (["--provider-json=."], "ERROR: --provider-json=.: is a directory; give the JSON file"),
        ([f"--provider-json={GOOD}", "--max-body-mb=-1"], "ERROR: --max-body-mb must be a positive number, got '-1'"),
        ([f"--provider-json={GOOD}", "--max-body-mb=lots"], "ERROR: --max-body-mb expects a number, got 'lots'"),
        (["--provider-json="], "ERROR: --provider-json needs a value"),
        (
            [f"--provider-json={GOOD}", "--client=openai-compatible"],
            "ERROR: --client=openai-compatible: unknown client; known clients: kilo-code, roo-code, cline, kimi-cli, "
            "codex, claude-code, kimi-cli-gemini, kilo-provider-defined",
        ),
        (
            [f"--provider-json={GOOD}", f"--provider-json={BROKEN}"],
            "ERROR: give one target per run, not --provider-json and --provider-json",
        ),
    ],
)
def test_bad_command_lines_are_one_usage_error(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_an_unreadable_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    secret = write_json(pytester.path / "locked.json", [])
    secret.chmod(0)
    try:
        if secret.open("rb"):  # root reads anything: nothing to show then
            pytest.skip("running as a user who can read a mode-000 file (root)")
    except PermissionError:
        pass
    result = pytester.runpytest(f"--provider-json={secret}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --provider-json=*locked.json: cannot read it (Permission denied)"])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the document is empty"),
        (bytes(range(256)) * 4, "is not UTF-8 text"),
        (b"[1, 2" + b" " * 64, "not valid JSON"),
    ],
    ids=["empty", "binary", "truncated"],
)
def test_bad_files_are_one_finding(pytester: pytest.Pytester, content: bytes, says: str) -> None:
    (pytester.path / "in.json").write_bytes(content)
    result, data = run(pytester, "--offline", "--provider-json=in.json")
    assert result.ret == 1
    assert outcomes(data, "failed") == {"EMB-001"}
    assert says in next(r["message"] for r in data["results"] if r["id"] == "EMB-001")
    assert "Traceback" not in result.stdout.str()


def test_a_model_id_with_a_lone_surrogate_is_checked_and_every_report_written(pytester: pytest.Pytester) -> None:
    """``"\\ud800"`` is valid JSON and ``JSON.parse`` keeps it; pytest's node IDs and UTF-8 files cannot carry it."""
    model_id = "acme/coder-\ud800"
    write_json(pytester.path / "in.json", embedded(models={model_id: {**GOOD_MODEL, "id": model_id, "name": ""}}))
    result, data = run(pytester, "--offline", "--provider-json=in.json", "--conformance-markdown=r.md")
    assert result.ret == 0, result.stdout.str()
    assert {r["subject"] for r in data["results"] if r["id"] == "EXT-003"} == {model_id}
    assert "acme/coder-\\ud800" in Path(pytester.path, "r.md").read_text("utf-8")
    assert "Traceback" not in result.stdout.str()


def test_a_file_over_the_size_cap_is_refused_without_reading_it_all(pytester: pytest.Pytester) -> None:
    big = pytester.path / "big.json"
    with big.open("wb") as handle:
        handle.write(b"[" + b"0," * (25 * 1024 * 1024) + b"0]")
    result, data = run(pytester, "--offline", "--provider-json=big.json")
    assert result.ret == 1
    message = next(r["message"] for r in data["results"] if r["id"] == "EMB-001")
    assert "larger than the 32 MiB cap (--max-body-mb)" in message


def test_stdin_is_read_with_a_dash(pytester: pytest.Pytester) -> None:
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest",
        "--offline",
        "--provider-json=-",
        "--conformance-report=r.json",
        stdin=GOOD.read_bytes(),
    )
    assert result.ret == 0, result.stdout.str()
    data = json.loads((pytester.path / "r.json").read_text())
    assert data["target"]["where"] == "<stdin>"
    assert data["results"]


def test_stdin_reaches_xdist_workers_and_they_share_one_merged_report(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest",
        "--offline",
        "--provider-json=-",
        "-n",
        "2",
        "--conformance-report=r.json",
        stdin=BROKEN.read_bytes(),
    )
    assert result.ret == 1, result.stdout.str()
    data = json.loads((pytester.path / "r.json").read_text())
    assert outcomes(data, "failed") == BROKEN_MUST
    _, serial = run(pytester, "--offline", f"--provider-json={BROKEN}")
    # one merged report: every item once, whichever worker ran it
    assert sorted((r["id"], r["subject"]) for r in data["results"]) == sorted(
        (r["id"], r["subject"]) for r in serial["results"]
    )


def test_markdown_report_for_a_ci_step_summary(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--offline", f"--provider-json={BROKEN}", "--conformance-markdown=summary.md")
    text = (pytester.path / "summary.md").read_text()
    assert (
        "| kilo-provider-defined (unreleased PR loader) | axios + zod 3.25; chat: Kilo's legacy OpenAI-compatible "
        "handler (openai npm) | breaks | EMB-003, EMB-004, EXT-003, MAN-004, MAN-005 |"
    ) in text
    assert "## MUST findings (5)" in text and "## SHOULD findings (1)" in text
    assert "| check | subject | outcome | finding | fix |" in text


def test_junit_xml_and_last_failed_work_on_conformance_items(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--offline", f"--provider-json={BROKEN}", "--junitxml=junit.xml")
    xml = (pytester.path / "junit.xml").read_text()
    assert 'name="EXT-003[acme/coder-large]"' in xml and "Traceback" not in xml
    rerun = pytester.runpytest("--offline", f"--provider-json={BROKEN}", "--lf", "-p", "no:randomly")
    rerun.assert_outcomes(failed=len(BROKEN_MUST))


@pytest.mark.parametrize(
    "args",
    [["check"], [], ["bogus"], ["serve", "--port", "x"], ["serve", "--models", "0"], ["serve", "--max-in-flight", "x"]],
)
def test_cli_usage_errors_are_one_line_and_exit_4(pytester: pytest.Pytester, args: list[str]) -> None:
    result = pytester.run(str(Path(sys.executable).with_name("provider-conformance")), *args)
    assert result.ret == 4
    assert len(result.stderr.lines) == 1 and "error:" in result.stderr.lines[0]


def test_the_cli_check_command_runs_the_battery(pytester: pytest.Pytester) -> None:
    script = Path(sys.executable).with_name("provider-conformance")
    result = pytester.run(str(script), "check", str(BROKEN), "--offline", "-q")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*MUST failures (5):*"])


def test_the_docs_example_passes_with_warnings_for_its_sparse_model(pytester: pytest.Pytester) -> None:
    example = shared_file("samples", "kilo_provider_defined_embedded_docs_example.json")
    result, data = run(pytester, "--offline", f"--provider-json={example}")
    assert result.ret == 0
    warned = {(r["id"], r["subject"]) for r in data["results"] if r["outcome"] == "warned"}
    assert warned == {(cid, "provider/another-model-v2") for cid in ("EXT-005", "EXT-006", "EXT-009")}


@pytest.mark.parametrize(
    "name", ["openrouter_api_v1_models.json", "vllm_v1_models.json", "synthetic_openai_v1_models_2026-01-30.json"]
)
def test_a_real_model_list_pasted_as_element_one_is_named(pytester: pytest.Pytester, name: str) -> None:
    models = json.loads(shared_file("samples", name).read_text(encoding="utf-8"))
    source = write_json(pytester.path / "pasted.json", [embedded()[0], models])
    result, data = run(pytester, "--offline", f"--provider-json={source}")
    assert result.ret == 1
    assert outcomes(data, "failed") == {"EXT-002", "EMB-004"}  # loaded with no model (PD:89), the list named
    result.stdout.fnmatch_lines(["*this is an OpenAI*list, not an extended-models response*"])
    assert "Traceback" not in result.stdout.str()


def test_results_name_the_input_file_relative_as_given(pytester: pytest.Pytester) -> None:
    shutil.copy(GOOD, pytester.path / "mine.json")
    _, data = run(pytester, "--offline", "--provider-json=mine.json")
    assert data["target"]["where"] == "mine.json"
    assert Path(pytester.path / "report.json").exists()


def _large_catalog(pytester: pytest.Pytester, count: int) -> Path:
    """An embedded catalog of ``count`` clean models but one, ``acme/coder-17``, whose context is a string."""
    models = {f"acme/coder-{n}": {**GOOD_MODEL, "id": f"acme/coder-{n}"} for n in range(count)}
    models["acme/coder-17"]["limit"] = {"context": "128000", "output": 8192}
    return write_json(pytester.path / "large.json", embedded(models=models))


def test_a_large_catalog_is_one_item_per_check_with_every_result_in_the_report(pytester: pytest.Pytester) -> None:
    count = GROUP_ABOVE + 50
    source = _large_catalog(pytester, count)
    listed = pytester.runpytest("--offline", f"--provider-json={source}", "--collect-only", "-q")
    ids = [line for line in listed.outlines if line.startswith("conformance::")]
    assert f"conformance::EXT-003[{count} subjects]" in ids
    assert len(ids) < count  # one item per check, not per (check, model)
    result, data = run(pytester, "--offline", f"--provider-json={source}")
    assert result.ret == 1
    ext003 = {r["subject"]: r["outcome"] for r in data["results"] if r["id"] == "EXT-003"}
    assert len(ext003) == count
    assert {s for s, o in ext003.items() if o == "failed"} == {"acme/coder-17"}
    assert data["profiles"]["kilo-provider-defined"]["breaks"] == ["EMB-004", "EXT-003"]
    result.stdout.fnmatch_lines(
        [
            "EXT-003 [[]MUST[]]*",
            "subject: acme/coder-17    input: *large.json",
            f"FAILED conformance::EXT-003[[]{count} subjects[]]*",
        ]
    )


def test_k_selects_checks_and_models_inside_a_large_catalogs_items(pytester: pytest.Pytester) -> None:
    source = _large_catalog(pytester, GROUP_ABOVE + 50)
    _, by_check = run(pytester, "--offline", f"--provider-json={source}", "-k", "EXT-003")
    assert {r["id"] for r in by_check["results"]} == {"EXT-003"}
    assert len(by_check["results"]) == GROUP_ABOVE + 50
    result, by_model = run(pytester, "--offline", f"--provider-json={source}", "-k", "acme/coder-17")
    assert {r["subject"] for r in by_model["results"]} == {"acme/coder-17"}
    assert {r["id"] for r in by_model["results"] if r["outcome"] == "failed"} == {"EXT-003"}
    assert len(by_model["results"]) > 1  # every check on that model
    assert result.ret == 1
    _, both = run(
        pytester, "--offline", f"--provider-json={source}", "-k", "EXT-003 and not acme/coder-17", "-m", "must"
    )
    assert {r["id"] for r in both["results"]} == {"EXT-003"}
    assert "acme/coder-17" not in {r["subject"] for r in both["results"]}
    assert len(both["results"]) == GROUP_ABOVE + 49
    none = pytester.runpytest("--offline", f"--provider-json={source}", "-k", "MAN- and acme/coder-17")
    assert none.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_lf_runs_a_large_catalogs_failing_check_again(pytester: pytest.Pytester) -> None:
    source = _large_catalog(pytester, GROUP_ABOVE + 50)
    first = pytester.runpytest("--offline", f"--provider-json={source}")
    assert first.ret == 1
    again = pytester.runpytest("--offline", f"--provider-json={source}", "--lf", "--conformance-report=lf.json")
    data = json.loads((pytester.path / "lf.json").read_text())
    again.assert_outcomes(failed=2)  # the grouped EXT-003, and EMB-004 on the same model
    assert {r["id"] for r in data["results"]} == {"EXT-003", "EMB-004"}
    assert len(data["results"]) == GROUP_ABOVE + 51


def test_a_large_catalog_under_xdist_reports_every_result_once(pytester: pytest.Pytester) -> None:
    source = _large_catalog(pytester, GROUP_ABOVE + 50)
    _, alone = run(pytester, "--offline", f"--provider-json={source}", "-k", "EXT-")
    spread = pytester.runpytest_subprocess(
        "--offline", f"--provider-json={source}", "-k", "EXT-", "-n", "2", "--conformance-report=spread.json"
    )
    assert spread.ret == 1
    data = json.loads((pytester.path / "spread.json").read_text())

    def key(r: dict[str, str]) -> tuple[str, str]:
        return r["id"], r["subject"]

    assert sorted(data["results"], key=key) == sorted(alone["results"], key=key)
    assert len({key(r) for r in data["results"]}) == len(data["results"])
    assert data["profiles"] == alone["profiles"]

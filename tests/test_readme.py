"""The README is the contract a new user reads: it must list every check and every fault as they are."""

from __future__ import annotations

import re

from conformance.catalogue import catalogue
from conformance.reference.faults import FAULTS
from conformance.resources import data_dir

README = (data_dir("schemas").parent / "README.md").read_text(encoding="utf-8")


def test_every_check_is_in_the_readme_with_its_severity() -> None:
    rows = dict(re.findall(r"^\| ([A-Z]+-\d{3}) \| (MUST|SHOULD|INFO) \|", README, re.MULTILINE))
    assert rows == {c.id: c.severity.value for c in catalogue()}


def test_every_fault_is_in_the_readme_with_what_it_breaks() -> None:
    table = README[README.index("| fault | breaks |") : README.index("## Tested against")]
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \|", table, re.MULTILINE))
    assert set(rows) == set(FAULTS), set(rows) ^ set(FAULTS)
    assert set(rows) == set(FAULTS)
    for name, fault in FAULTS.items():
        assert all(check_id in rows[name] for check_id in fault.breaks), name


def test_the_readme_commands_name_real_options() -> None:
    options = set(re.findall(r"(--[a-z][a-z-]+)", README))
    known = {
        "--reference-provider",
        "--provider-url",
        "--conformance-html",
        "--conformance-badge",
        "--provider-json",
        "--base-url",
        "--offline",
        "--api-key-env",
        "--api-key-cmd",
        "--api-key-cmd-timeout",
        "--api-key-cmd-refresh",
        "--models-dev-key-env",
        "--provider-header",
        "--model",
        "--all-models",
        "--concurrency",
        "--request-timeout",
        "--max-body-mb",
        "--latency-samples",
        "--latency-warmup",
        "--ttft-budget-ms",
        "--e2e-budget-ms",
        "--fetch-budget-ms",
        "--strict",
        "--models-dev",
        "--models-dev-provider",
        "--retries",
        "--client",
        "--wire-api",
        "--run-budget-s",
        "--conformance-report",
        "--conformance-markdown",
        "--fault",
        "--port",
        "--ttft-ms",
        "--token-ms",
        "--models",
        "--max-in-flight",
        "--retry-after",
        "--junitxml",
        "--lf",
        "--config",
        "--host",
        "--hypothesis-seed",
        "--deselect",
        "--loader-cmd",
        "--loader-jsonl",
        "--loader-timeout",
        "--loader-profile",
        "--loader-expectations",
        "--loader-fuzz",
        "--quick",
        "--only",
        "--real-clients",
        "--format",
        "--durations",
    }
    refused = {"--api-key", "--token", "--key", "--modle"}  # shown being refused, or corrected
    assert options <= known | refused, options - known - refused

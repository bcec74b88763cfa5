"""The GitHub Actions recipe a provider copies: valid YAML, and every option it passes is one the suite has."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conformance.resources import data_dir

RECIPE = data_dir("examples") / "ci" / "github-actions.yml"


def _steps() -> list[dict[str, object]]:
    workflow = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return workflow["jobs"]["conformance"]["steps"]


def test_the_recipe_is_a_workflow_that_runs_installs_and_uploads() -> None:
    steps = _steps()
    runs = " ".join(str(step.get("run", "")) for step in steps)
    assert "pip install provider-conformance" in runs
    assert "${{ secrets.PROVIDER_API_KEY }}" in str(steps)
    assert "$GITHUB_STEP_SUMMARY" in runs
    assert any(str(step.get("uses", "")).startswith("actions/upload-artifact") for step in steps)


def test_every_option_in_the_recipe_is_a_real_option() -> None:
    command = next(str(step["run"]) for step in _steps() if str(step.get("run", "")).startswith("pytest"))
    options = set(re.findall(r"(--[a-z][a-z-]+)=", command))
    assert {
        "--provider-url",
        "--conformance-report",
        "--conformance-html",
        "--conformance-markdown",
        "--conformance-badge",
    } <= options
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(option in help_text for option in options), options
    assert "--api-key" not in command.replace("--api-key-env", ""), "the key comes from the environment only"

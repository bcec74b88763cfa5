"""Shared test helpers: the real data beside the checkout, hypothesis profiles (no deadlines: a loaded machine must
not fail a test for being slow), small document builders."""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

BATTERY_OPTIONS = ("provider_url", "provider_json", "base_url", "reference_provider", "models_dev", "loader_cmd")


os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
"""The suite's own tests start many Python processes (xdist workers, whole runs of the plugin): without bytecode
each would compile the package and rewrite the test and plugin modules for assertions again, about 5 s of CPU per
worker. ``__pycache__`` is git-ignored; the drivers still run without it (``drivers.driver_env``)."""

LONGEST_FIRST = ("test_client_truth.py", "test_real_clients.py")
"""Modules whose tests take far longer than the rest (they drive the real client libraries): started first, so
that the other workers run everything else beside them instead of waiting for them at the end."""


def _cores() -> int:
    """The cores this process may run on (its affinity, where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The suite's own tests run on every core by default, with one worker more than the cores (``-n 0``: one
    process; every test is safe under xdist: each starts its own servers on free ports and works in its own
    folder), and an idle worker takes tests queued on a busy one (``worksteal``), so a long test holds up nothing
    queued behind it. Many tests wait on purpose (a client's back-off or deadline, a held-back stream, a
    timeout): measured on two cores, 2 workers took 3 min 38 s, 3 workers 2 min 52 s, 4 workers 2 min 48 s.
    A battery or loader run started in this checkout keeps its one process, unless ``-n`` is given."""
    option = config.option
    if getattr(option, "numprocesses", False) is False or hasattr(config, "workerinput"):
        return
    if option.usepdb or option.collectonly or any(getattr(option, name, None) for name in BATTERY_OPTIONS):
        return
    if option.numprocesses is None:
        option.numprocesses = _cores() + 1
    if option.dist == "no":
        option.dist = "worksteal"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (a stable sort: the rest keep their order)."""
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
"""Any JSON value, small: what a hostile document can hold anywhere."""

settings.register_profile(
    "ci", settings.get_profile("ci"), max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

GOOD_MANIFEST: dict[str, Any] = {
    "name": "Acme AI",
    "website": "https://acme.example",
    "baseUrl": "https://api.acme.example/v1",
    "models_data_source": "embedded",
}
GOOD_MODEL: dict[str, Any] = {
    "id": "acme/coder",
    "name": "Acme Coder",
    "attachment": False,
    "reasoning": False,
    "temperature": True,
    "tool_call": True,
    "release_date": "2026-01-15",
    "last_updated": "2026-02-01",
    "modalities": {"input": ["text"], "output": ["text"]},
    "open_weights": False,
    "cost": {"input": 0.5, "output": 1.5},
    "limit": {"context": 128000, "output": 8192},
}


def embedded(manifest: dict[str, Any] | None = None, models: dict[str, Any] | None = None) -> list[Any]:
    """A fresh, clean embedded document, with parts replaced where given."""
    return [
        copy.deepcopy(manifest or GOOD_MANIFEST),
        {"models": copy.deepcopy(models if models is not None else {"acme/coder": GOOD_MODEL})},
    ]


def shared_file(*parts: str) -> Path:
    """A file of ``../shared/data``; the test skips with a reason where that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it lives beside the checkout, in shared/)")
    return path


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run pytest in the (empty) test folder with a JSON report, and return both."""
    result = pytester.runpytest("--conformance-report=report.json", "-p", "no:cacheprovider", *args)
    path = pytester.path / "report.json"
    return result, json.loads(path.read_text()) if path.exists() else {}


def outcomes(data: dict[str, Any], *wanted: str) -> set[str]:
    """The check IDs with any of these outcomes in a JSON report."""
    return {r["id"] for r in data["results"] if r["outcome"] in wanted}


@pytest.fixture(scope="session")
def driver_processes() -> Iterator[dict[str, Any]]:
    """Every client's driver (``conformance.clients.drivers.DriverProcess``), started at its first request and kept
    running for the session, one per xdist worker: a test asks it for a turn instead of starting it again."""
    drivers = pytest.importorskip(
        "conformance.clients.drivers", reason="this checkout has no client drivers (conformance/clients/drivers)"
    )
    running = {name: drivers.process(name) for name in drivers.DRIVERS}
    yield running
    with ThreadPoolExecutor(max_workers=len(running)) as pool:
        list(pool.map(lambda driver: driver.close(), running.values()))


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the developer's environment must not send the suite's own tests anywhere: tests set their own."""
    monkeypatch.delenv("PROVIDER_API_KEY", raising=False)

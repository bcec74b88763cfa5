"""The real client libraries, driven against the bundled reference provider: each driver works on the clean provider
and breaks (or degrades) where its library does; a misbehaving driver gives a clear result; no key leaks.

Tests that need a driver's runtime skip, naming it, where ``provider-conformance clients install`` has not set it
up (``.ci/run`` does).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import report
from conformance.cli import main
from conformance.clients import drivers
from conformance.clients.drivers import install
from conformance.reference.server import REFERENCE_KEY, ReferenceConfig, ReferenceServer
from tests.conftest import run

PYTHON_DRIVERS = [name for name, d in drivers.DRIVERS.items() if d.runtime == "python"]
NODE_DRIVERS = [name for name, d in drivers.DRIVERS.items() if d.runtime == "node"]
SECRET = "sk-real-clients-secret-7f3a9c"


@pytest.fixture(autouse=True)
def installed_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytester run gets a HOME of its own; the drivers stay where they were installed, so that a run made
    there drives them rather than reporting them not installed."""
    monkeypatch.setenv(drivers.HOME_ENV, str(drivers.home()))


def needs(client: str) -> None:
    reason = drivers.available(client)
    if reason:
        pytest.skip(f"{client}: {reason}")


@pytest.fixture
def reference(request: pytest.FixtureRequest) -> Iterator[ReferenceServer]:
    faults = frozenset(getattr(request, "param", ()))
    with ReferenceServer(ReferenceConfig(faults=faults)) as server:
        yield server


@pytest.fixture
def turn(driver_processes: dict[str, drivers.DriverProcess]) -> Callable[..., dict[str, Any]]:
    """One agent turn by a client's driver (kept running for the session) against a server."""

    def one(client: str, server: ReferenceServer, key: str = REFERENCE_KEY) -> dict[str, Any]:
        request = drivers.make_request(server.base_url, "reference/coder", key, reasoning=True, tag="t1")
        return driver_processes[client].ask(request)

    return one


@pytest.mark.parametrize("client", list(drivers.DRIVERS))
def test_each_driver_works_on_the_clean_reference(
    client: str, reference: ReferenceServer, turn: Callable[..., dict[str, Any]]
) -> None:
    needs(client)
    result = turn(client, reference)
    assert result["outcome"] == "works", result
    discovers = ["discover"] if client == "kilo-code" else []
    extra = ["compaction"] if client.startswith("kimi-cli") else []  # kimi_cli.py: Kimi's compaction request
    assert [s["name"] for s in result["steps"]] == [*discovers, "text", "tool-call", "tool-result", *extra]
    assert all(s["outcome"] == "works" for s in result["steps"]), result
    assert result["lost"] == [] and result["error"] is None
    assert result["tag"] == "t1" and result["client"] == client
    assert result["library"].startswith(f"{drivers.DRIVERS[client].library}@")
    assert "get_weather" in result["steps"][len(discovers) + 1]["detail"]


DISCOVERY = [
    ("model-list-no-object", "works", '2 model(s) discovered: "reference/coder", "reference/mini"'),
    ("model-entry-without-id", "works", '2 model(s) discovered: "reference/coder", "reference/mini"'),
    ("model-entry-no-object", "works", '2 model(s) discovered: "reference/coder", "reference/mini"'),
    ("bare-array-models", "degraded", "no model discovered: the body has no data array"),
    ("invalid-utf8", "degraded", '1 model(s) discovered ("\ufffd\ufffd\ufffd"), "reference/coder" not among them'),
    ("huge-body", "degraded", "no model discovered: the body is over 32 MiB: the driver stopped reading"),
    ("gzip-bomb", "degraded", "no model discovered: the body is over 32 MiB: the driver stopped reading"),
    ("refuse-everything", "degraded", "no model discovered: unexpected status 500"),
    ("model-list-no-data", "degraded", "no model discovered: the body has no data array"),
    ("model-list-html", "degraded", "no model discovered: SyntaxError: Unexpected token '<'"),
    ("model-list-forbidden", "degraded", "no model discovered: unexpected status 403"),
]
"""What shipping Kilo's model discovery makes of each model list (the kilo-code reactions to LST-001's deviations,
conformance/clients/data.py KILO_DISCOVERY), measured in the driver's discover step."""


@pytest.mark.parametrize(
    ("reference", "outcome", "said"), [pytest.param([f], o, s, id=f) for f, o, s in DISCOVERY], indirect=["reference"]
)
def test_kilos_model_discovery_reads_each_model_list_as_kilo_does(
    reference: ReferenceServer, outcome: str, said: str, turn: Callable[..., dict[str, Any]]
) -> None:
    needs("kilo-code")
    discover = turn("kilo-code", reference)["steps"][0]
    assert discover["name"] == "discover"
    assert discover["outcome"] == outcome, discover
    assert discover["detail"].startswith(said), discover


BREAKS = [
    ("kimi-cli", "reject-stream-options", "text", "stream_options"),
    ("kimi-cli", "empty-data-event", "text", "JSONDecodeError"),
    ("kimi-cli", "tool-args-object", "tool-call", "ValidationError"),
    ("codex", "responses-no-completed", "text", "stream closed before response.completed (retried 5 times)"),
    ("codex", "responses-reject-function-output", "tool-result", "400"),
    *[(client, "reject-stream-options", "text", "stream_options") for client in NODE_DRIVERS],
]
"""No reference fault of the Messages API makes the Anthropic SDK raise (measured); claude-code breaking is shown
by the wrong-key test below."""


@pytest.mark.parametrize(
    ("client", "reference", "step", "said"),
    [pytest.param(c, [f], s, m, id=f"{c}-{f}") for c, f, s, m in BREAKS],
    indirect=["reference"],
)
def test_a_driver_breaks_where_its_library_does(
    client: str, reference: ReferenceServer, step: str, said: str, turn: Callable[..., dict[str, Any]]
) -> None:
    needs(client)
    result = turn(client, reference)
    assert result["outcome"] == "breaks", result
    broken = next(s for s in result["steps"] if s["outcome"] == "breaks")
    assert broken["name"] == step
    assert result["steps"][-1] == broken  # the turn ends at its first break, as the agent's does
    assert said in broken["detail"] and said in result["error"]


DEGRADES = [
    ("kimi-cli", "no-usage", "usage"),
    ("kimi-cli", "tool-repeated-name", "tool-call"),
    ("codex", "responses-no-usage", "usage"),
    ("codex", "responses-args-object", "tool-call"),
    ("claude-code", "messages-no-tool-use", "tool-call"),
]


@pytest.mark.parametrize(
    ("client", "reference", "lost"),
    [pytest.param(c, [f], lost, id=f"{c}-{f}") for c, f, lost in DEGRADES],
    indirect=["reference"],
)
def test_a_driver_degrades_where_its_library_silently_loses_data(
    client: str, reference: ReferenceServer, lost: str, turn: Callable[..., dict[str, Any]]
) -> None:
    needs(client)
    result = turn(client, reference)
    assert result["outcome"] == "degraded", result
    assert result["lost"] == [lost]
    assert result["error"] is None
    assert any(f"lost: {lost}" in s["detail"] for s in result["steps"] if s["outcome"] == "degraded")


@pytest.mark.parametrize("client", PYTHON_DRIVERS)
def test_the_key_never_appears_even_when_the_provider_echoes_it(
    client: str, turn: Callable[..., dict[str, Any]]
) -> None:
    """A wrong key, and a provider that repeats the caller's Authorization header in its error bodies."""
    needs(client)
    with ReferenceServer(ReferenceConfig(faults=frozenset({"echo-key"}))) as server:
        result = turn(client, server, key=SECRET)
    assert result["outcome"] == "breaks", result
    assert re.search(r"\b40[01]\b", result["error"])  # the Gemini API answers a bad key 400 API_KEY_INVALID
    assert SECRET not in json.dumps(result)


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "driver.py"
    path.write_text(f"import sys, json, time\n{body}\n", "utf-8")
    return [sys.executable, str(path)]


def _requests(n: int = 2) -> list[dict[str, Any]]:
    return [drivers.make_request("http://127.0.0.1:9/v1", "m", SECRET, tag=i) for i in range(n)]


MISBEHAVING = {
    "crashes": ("print('boom: ' + sys.stdin.readline(), file=sys.stderr); sys.exit(3)", "exited with status 3"),
    "prints garbage": ("sys.stdin.readline(); print('this is not JSON ' + 'sk-real-clients-secret-7f3a9c')", "printed"),
    "answers another tag": ("sys.stdin.readline(); print(json.dumps({'tag': 'other', 'outcome': 'works'}))", "tag"),
    "claims an unknown outcome": (
        "r = json.loads(sys.stdin.readline()); print(json.dumps({**r, 'outcome': 'fine', 'steps': []}))",
        "an outcome of 'fine'",
    ),
}


@pytest.mark.parametrize("case", MISBEHAVING)
def test_a_misbehaving_driver_gives_a_clear_error_result(tmp_path: Path, case: str) -> None:
    body, said = MISBEHAVING[case]
    results = drivers.run_driver(_script(tmp_path, body), "fake", "fake@1", _requests())
    assert [r["tag"] for r in results] == [0, 1]
    assert all(r["outcome"] == "error" and r["client"] == "fake" and r["steps"] == [] for r in results)
    assert said in results[0]["error"]
    assert SECRET not in json.dumps(results)


def test_a_driver_that_echoes_the_key_on_stderr_has_it_masked(tmp_path: Path) -> None:
    script = _script(tmp_path, "print(sys.stdin.readline(), file=sys.stderr); sys.exit(1)")
    (result,) = drivers.run_driver(script, "fake", "fake@1", _requests(1))
    assert "its last stderr line" in result["error"]
    assert SECRET not in result["error"] and "***" in result["error"]


def test_a_hung_driver_is_stopped_and_says_so(tmp_path: Path) -> None:
    script = _script(tmp_path, "time.sleep(3600)")
    (result,) = drivers.run_driver(script, "fake", "fake@1", _requests(1), timeout_s=1)
    assert result["outcome"] == "error"
    assert "gave no answer within 1 s and was stopped" in result["error"]


def test_a_driver_that_cannot_start_says_why() -> None:
    results = drivers.run_driver(["/nonexistent/driver"], "fake", "fake@1", _requests(1))
    assert results[0]["outcome"] == "error" and "could not start" in results[0]["error"]


def test_a_client_that_is_not_installed_is_not_run_with_the_install_command(tmp_path: Path) -> None:
    reason = drivers.available("kimi-cli", tmp_path)
    if reason is None:
        pytest.skip("this interpreter can run kosong itself (the clients extra on Python >= 3.12)")
    assert drivers.INSTALL_COMMAND in reason and "Python >= 3.12" in reason
    (result,) = drivers.run("kimi-cli", _requests(1), where=tmp_path)
    assert result["outcome"] == "not-run" and result["error"] == reason


def test_a_node_driver_copy_with_an_old_shared_module_is_out_of_date(tmp_path: Path) -> None:
    """The installed copy runs, not the package's files: one whose shared ``turn.mjs`` differs from the
    package's would measure old behaviour, so it is not run, and the reason says how to refresh it."""
    copy = tmp_path / "node"
    shutil.copytree(drivers.HERE / "node", copy, ignore=shutil.ignore_patterns("node_modules", "test"))
    (copy / "node_modules").mkdir()
    assert drivers.available("roo-code", tmp_path) is None
    (copy / "turn.mjs").write_text("// an older turn.mjs\n")
    reason = drivers.available("roo-code", tmp_path)
    assert reason is not None and "out of date (turn.mjs)" in reason and drivers.INSTALL_COMMAND in reason


def test_install_says_which_runtime_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without Python >= 3.12 or Node.js, install fails saying which, and installs nothing."""
    monkeypatch.setattr(install, "find_python", lambda: None)
    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    assert main(["clients", "install", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "python: FAILED: no Python >= 3.12 on PATH or under pyenv" in out
    if (drivers.HERE / "node" / drivers.NODE_LOCK).is_file():
        assert "node: FAILED: Node.js is not installed" in out
    assert list(tmp_path.iterdir()) == []


def test_clients_list_shows_each_client_its_library_and_whether_it_is_installed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["clients", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    for name, driver in drivers.DRIVERS.items():
        (line,) = [row for row in out if row.startswith(f"{name} ")]
        assert driver.runtime in line
        reason = drivers.available(name)
        assert ("installed" in line) if reason is None else (reason in line)
    assert "kosong@" in "\n".join(out)


def test_real_clients_end_to_end(pytester: pytest.Pytester) -> None:
    """``--real-clients`` on the reference provider: the outcome of each driver of the ``--client`` profiles beside
    the suite's verdict, in the terminal and the JSON report (which still validates)."""
    narrowed = ("kimi-cli", "roo-code")
    result, data = run(
        pytester,
        "--reference-provider=no-usage",
        "--real-clients",
        "-k",
        "CS-005",
        *(f"--client={c}" for c in narrowed),
    )
    real = data["real_clients"]
    assert report.schema_errors(data) == []
    assert real["model"] == "reference/coder"
    assert set(real["clients"]) == set(narrowed)
    for name, entry in real["clients"].items():
        reason = drivers.available(name)
        if reason is not None:
            assert entry["outcome"] == "not-run" and entry["error"] == reason
            result.stdout.fnmatch_lines([f"*{name} (*): not-run: {reason}*"])
    kimi = real["clients"]["kimi-cli"]
    if drivers.available("kimi-cli") is None:
        assert kimi["outcome"] == "degraded" and kimi["lost"] == ["usage"]
        assert kimi["suite_verdict"] == data["profiles"]["kimi-cli"]["verdict"]
        result.stdout.fnmatch_lines(
            ["real clients*", "*kimi-cli (kosong@*): degraded (*); lost: usage; suite verdict*"]
        )


def test_real_clients_without_a_live_target_lists_every_client_as_not_run(pytester: pytest.Pytester) -> None:
    path = pytester.path / "p.json"
    path.write_text((Path(__file__).parents[1] / "examples" / "acme-embedded.json").read_text("utf-8"), "utf-8")
    result, data = run(pytester, f"--provider-json={path}", "--offline", "--real-clients")
    clients = data["real_clients"]["clients"]
    assert data["real_clients"]["model"] is None
    assert {c["outcome"] for c in clients.values()} == {"not-run"}
    assert all("--offline" in c["error"] for c in clients.values())
    result.stdout.fnmatch_lines(["real clients*", "*kimi-cli (kosong@*): not-run: not run: *"])

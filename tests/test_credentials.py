"""Credentials that do not come from one environment variable: a bearer token from a command (``--api-key-cmd``,
Codex's ``auth.command``) and a private models.dev registry's own token (``--models-dev-key-env``). Each token is
sent where it belongs and appears in no output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conformance.errors import UsageError
from conformance.keycmd import KeyCommand, KeySource
from conformance.loopback import Loopback, bind
from conformance.redact import MASK, Redactor
from conformance.reference import catalog
from conformance.reference.server import ReferenceConfig, ReferenceServer
from tests.conftest import outcomes, run

TOKEN = "tok-canary-from-a-command-5c2e"
REGISTRY_TOKEN = "reg-canary-9b41f7"
PYTHON = sys.executable


def printer(tmp_path: Path, text: str = TOKEN) -> Path:
    """A script that prints the content of ``token.txt`` beside it (written now with ``text``)."""
    (tmp_path / "token.txt").write_text(text)
    script = tmp_path / "print_token.py"
    script.write_text(
        "import pathlib, sys\nsys.stdout.write(pathlib.Path(__file__).with_name('token.txt').read_text())\n"
    )
    return script


def command(script: Path, *, refresh_s: float = 300.0) -> KeyCommand:
    return KeyCommand((PYTHON, str(script)), timeout_s=30.0, refresh_s=refresh_s)


class Clock:
    """A clock the test moves by hand: no test here waits for real time to pass."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_is_the_trimmed_output(tmp_path: Path) -> None:
    assert command(printer(tmp_path, f"  {TOKEN}\n")).run() == TOKEN


def test_the_token_is_run_again_once_it_is_older_than_the_refresh_interval(tmp_path: Path) -> None:
    script, clock = printer(tmp_path, "first-token"), Clock()
    source = KeySource(command(script, refresh_s=60), clock=clock)
    seen: list[str] = []
    source.listen(seen.append)
    assert source.token() == "first-token"
    (tmp_path / "token.txt").write_text("second-token")
    clock.now += 59
    assert source.token() == "first-token"
    clock.now += 1
    assert source.token() == "second-token"
    assert seen == ["first-token", "second-token"]


def test_a_zero_interval_never_refreshes(tmp_path: Path) -> None:
    script, clock = printer(tmp_path, "only-token"), Clock()
    source = KeySource(command(script, refresh_s=0), clock=clock)
    assert source.token() == "only-token"
    (tmp_path / "token.txt").write_text("never-read")
    clock.now += 10**9
    assert source.token() == "only-token"


def test_a_failed_refresh_keeps_the_token_it_had(tmp_path: Path) -> None:
    script, clock = printer(tmp_path, "kept-token"), Clock()
    source = KeySource(command(script, refresh_s=1), clock=clock)
    assert source.token() == "kept-token"
    (tmp_path / "token.txt").write_text("")
    clock.now += 5
    assert source.token() == "kept-token"


def test_a_listener_added_late_still_hears_every_token(tmp_path: Path) -> None:
    source = KeySource(command(printer(tmp_path)))
    source.token()
    redactor = Redactor()
    source.listen(redactor.add)
    assert redactor.text(f"Bearer {TOKEN}") == f"Bearer {MASK}"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "needs a command"),
        ("   ", "needs a command"),
        ("'unbalanced", "cannot split the command"),
        ("no-such-program-anywhere --flag", "'no-such-program-anywhere' was not found"),
        (f"{PYTHON} -c 'import sys; sys.exit(3)'", "exited with status 3"),
        (f"{PYTHON} -c 'print()'", "printed nothing"),
        (f"{PYTHON} -c 'print(\"a\\nb\")'", "more than one line"),
        (f"{PYTHON} -c 'import time; time.sleep(60)'", "did not finish within 0.5 s"),
    ],
    ids=["empty", "blank", "unbalanced", "not-found", "exit-3", "no-output", "two-lines", "timeout"],
)
def test_every_failure_is_one_usage_line(text: str, says: str) -> None:
    timeout_s = 0.5 if "sleep" in text else 60.0  # generous where the command is meant to finish
    with pytest.raises(UsageError, match=says) as raised:
        KeyCommand.parse(text, timeout_s=timeout_s, refresh_s=300).run()
    assert "\n" not in str(raised.value)


def test_what_the_command_printed_is_never_repeated(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text(f"print({TOKEN!r}); import sys; sys.exit(2)\n")
    with pytest.raises(UsageError) as raised:
        KeyCommand.parse(f"{PYTHON} {script}", timeout_s=30, refresh_s=300).run()
    assert TOKEN not in str(raised.value)


@pytest.fixture
def keyed_server() -> Iterator[ReferenceServer]:
    """A reference provider that accepts only the command's token."""
    with ReferenceServer(ReferenceConfig(api_key=TOKEN)) as running:
        yield running


def test_a_server_that_needs_the_token_passes_and_the_token_is_in_no_output(
    pytester: pytest.Pytester, keyed_server: ReferenceServer, tmp_path: Path
) -> None:
    script = printer(tmp_path)
    result, data = run(
        pytester,
        f"--provider-url={keyed_server.manifest_url}",
        f"--api-key-cmd={PYTHON} {script}",
        "--wire-api=chat",
        "--wire-api=gemini",
        "--junitxml=junit.xml",
        "--conformance-markdown=report.md",
        "-rA",
    )
    assert result.ret == 0, result.stdout.str()
    assert outcomes(data, "passed") >= {"CC-001", "CE-001", "GG-002", "GG-006"}
    outputs = [
        result.stdout.str(),
        result.stderr.str(),
        *(p.read_text() for p in (pytester.path / n for n in ("report.json", "junit.xml", "report.md"))),
    ]
    assert all(TOKEN not in text for text in outputs)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--api-key-cmd=false"], "--api-key-cmd: 'false' exited with status 1"),
        (["--api-key-cmd=true", "--api-key-env=OTHER"], "not both"),
        (["--api-key-cmd-timeout=2"], "go with --api-key-cmd"),
        (["--api-key-cmd=true", "--api-key-cmd-timeout=0"], "--api-key-cmd-timeout must be a positive number"),
        (["--api-key-cmd=true", "--api-key-cmd-refresh=-1"], "--api-key-cmd-refresh must be 0 or more"),
    ],
    ids=["fails", "two-sources", "timeout-alone", "zero-timeout", "negative-refresh"],
)
def test_bad_key_commands_are_one_usage_error(
    pytester: pytest.Pytester, keyed_server: ReferenceServer, args: list[str], says: str
) -> None:
    result = pytester.runpytest(f"--provider-url={keyed_server.manifest_url}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{says}*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


class Registry:
    """A private models.dev registry on loopback: ``/api.json`` needs its own bearer token, ``/moved.json``
    redirects to ``/api.json`` at the other loopback name (another origin); every request's Authorization is
    kept."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        routes = [Route("/api.json", self.catalog), Route("/moved.json", self.moved)]
        self._loopback = Loopback(Starlette(routes=routes), [sock := bind("127.0.0.1", 0)], "registry")
        self.port = sock.getsockname()[1]

    async def catalog(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        self.seen.append((request.url.hostname or "", request.url.path, authorization))
        if authorization != f"Bearer {REGISTRY_TOKEN}":
            return JSONResponse({"error": "a registry token is needed"}, 401)
        return JSONResponse(catalog.models_dev(f"http://127.0.0.1:{self.port}", frozenset({"models-dev-source"})))

    async def moved(self, request: Request) -> Response:
        self.seen.append((request.url.hostname or "", request.url.path, request.headers.get("authorization", "")))
        return RedirectResponse(f"http://localhost:{self.port}/api.json", 307)

    def __enter__(self) -> Registry:
        self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loopback.stop()


def test_a_private_registry_is_read_with_its_own_token(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TOKEN", REGISTRY_TOKEN)
    with Registry() as registry:
        url = f"http://127.0.0.1:{registry.port}/api.json"
        result, data = run(
            pytester, f"--models-dev={url}", "--models-dev-provider=reference", "--models-dev-key-env=REGISTRY_TOKEN"
        )
    assert registry.seen == [("127.0.0.1", "/api.json", f"Bearer {REGISTRY_TOKEN}")]
    assert outcomes(data, "failed", "error") == set()
    assert "MDV-002" in outcomes(data, "passed")
    assert REGISTRY_TOKEN not in result.stdout.str() + (pytester.path / "report.json").read_text()


def test_without_its_token_the_registry_refuses_and_the_run_says_so(pytester: pytest.Pytester) -> None:
    with Registry() as registry:
        _, data = run(pytester, f"--models-dev=http://127.0.0.1:{registry.port}/api.json")
    assert registry.seen == [("127.0.0.1", "/api.json", "")]
    assert "401" in next(r["message"] for r in data["results"] if r["id"] == "MDV-001")


def test_the_registry_token_never_follows_a_redirect_to_another_origin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TOKEN", REGISTRY_TOKEN)
    with Registry() as registry:
        url = f"http://127.0.0.1:{registry.port}/moved.json"
        run(pytester, f"--models-dev={url}", "--models-dev-key-env=REGISTRY_TOKEN")
    assert registry.seen == [
        ("127.0.0.1", "/moved.json", f"Bearer {REGISTRY_TOKEN}"),
        ("localhost", "/api.json", ""),
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--models-dev=api.json", "--models-dev-key-env=REGISTRY_TOKEN"], "give --models-dev=URL"),
        (["--models-dev=https://registry.example/api.json", "--models-dev-key-env=UNSET_NAME"], "not set or empty"),
    ],
    ids=["a-file", "unset"],
)
def test_bad_registry_tokens_are_one_usage_error(pytester: pytest.Pytester, args: list[str], says: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{says}*"])

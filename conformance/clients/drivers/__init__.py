"""The real client libraries, each driven the way its client drives it: which drivers exist, whether one can run
here, and running one over a batch of requests in a single process.

A driver is a small program in ``python/`` or ``node/`` beside this file that speaks JSON Lines: one request
object per line on stdin (the API key travels only there), one result object per line on stdout, in order, until
EOF. A result says what the real library did with one agent turn (streamed text, a tool call, the tool-result
follow-up): ``works``, ``degraded`` (it silently lost text, usage, reasoning or the tool call, or showed
chat-template tokens) or ``breaks`` (the library or the client's code raised). The runner adds two outcomes of
its own, never confused with those: ``error`` (the driver itself crashed, hung or printed garbage: the suite's
problem, not the provider's) and ``not-run`` (its runtime or library is not installed here).

The drivers' dependencies live outside the package, in ``home()``: ``provider-conformance clients install``
puts the Python drivers' venv (``requirements.lock``) and the Node drivers' ``node_modules``
(``package-lock.json``) there.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.redact import Redactor

HERE = Path(__file__).resolve().parent
HOME_ENV = "PROVIDER_CONFORMANCE_CLIENTS"
INSTALL_COMMAND = "provider-conformance clients install"
PYTHON_LOCK = "requirements.lock"
NODE_LOCK = "package-lock.json"
DRIVER_OUTCOMES = ("works", "degraded", "breaks")
"""What a driver reports; the runner's own ``error`` and ``not-run`` never come from a driver."""
LOST = ("text", "usage", "reasoning", "tool-call", "models")
STEPS = ("discover", "text", "tool-call", "tool-result", "compaction")
"""A turn's steps, in order: ``discover`` (the model list, read as the client reads it) only for a client that
discovers its models, then the three every driver sends, then ``compaction`` (kimi_cli.py: Kimi's compaction
request)."""
STARTUP_S = 60.0
"""Time a driver process gets to start (imports, a cold interpreter on a loaded machine) on top of its requests."""
ATTEMPTS_BOUND = 6
"""The most times any driven client sends one request (Codex: once and five stream retries)."""
STDERR_LINES = 20
MAX_LINE_BYTES = 1 << 20
STRIPPED_ENV = ("OPENAI_", "ANTHROPIC_", "KIMI_", "CODEX_", "CLAUDE_")
"""Environment variables the SDKs would read on their own (a key, a base URL): a driver gets everything from its
request line and nothing from the user's environment."""


@dataclass(frozen=True)
class Driver:
    """One client, the library that parses its wire, and the program that drives that library."""

    client: str
    runtime: str
    """``python`` or ``node``."""
    entry: str
    """The program's file name in the runtime's folder."""
    libraries: tuple[str, ...]
    """The libraries whose parsing decides (PyPI distributions or npm package names), the deciding one first."""
    python: tuple[int, int] = (3, 10)
    """For Python drivers: the oldest interpreter the library runs on."""

    @property
    def source(self) -> Path:
        return HERE / self.runtime / self.entry

    @property
    def library(self) -> str:
        return self.libraries[0]

    def version(self, library: str) -> str | None:
        """A library's version as the lock file pins it."""
        if self.runtime == "python":
            return _python_pins().get(library.lower())
        return _node_pins().get(library)

    @property
    def label(self) -> str:
        return " + ".join(f"{name}@{self.version(name) or '?'}" for name in self.libraries)


DRIVERS: dict[str, Driver] = {
    d.client: d
    for d in (
        Driver("kimi-cli", "python", "kimi_cli.py", ("kosong",), python=(3, 12)),
        Driver("kimi-cli-gemini", "python", "kimi_cli_gemini.py", ("kosong", "google-genai"), python=(3, 12)),
        Driver("codex", "python", "codex.py", ("openai",)),
        Driver("claude-code", "python", "claude_code.py", ("anthropic",)),
        Driver("roo-code", "node", "roo-code.mjs", ("openai",)),
        Driver("cline", "node", "cline.mjs", ("openai",)),
        Driver("kilo-code", "node", "kilo-code.mjs", ("ai", "@ai-sdk/openai-compatible")),
    )
}


def _python_pins() -> dict[str, str]:
    pins = {}
    for line in (HERE / "python" / PYTHON_LOCK).read_text("utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = version.strip()
    return pins


def _node_pins() -> dict[str, str]:
    try:
        lock = json.loads((HERE / "node" / NODE_LOCK).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        path.removeprefix("node_modules/"): str(entry.get("version"))
        for path, entry in lock.get("packages", {}).items()
        if path.count("node_modules/") == 1 and isinstance(entry, dict)
    }


def home() -> Path:
    """Where the drivers' dependencies are installed: ``$PROVIDER_CONFORMANCE_CLIENTS``, else a user cache dir."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "provider-conformance" / "clients"


def venv_python(where: Path) -> Path:
    return where / "python" / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def command(client: str, where: Path | None = None) -> tuple[list[str] | None, str | None]:
    """The command that runs ``client``'s driver, or why it cannot run here (naming the install command)."""
    driver = DRIVERS.get(client)
    if driver is None:
        return None, f"no driver for {client!r}; drivers: {', '.join(DRIVERS)}"
    if not driver.source.is_file():
        return None, f"this installation has no {driver.runtime} driver for {client}"
    where = where or home()
    if driver.runtime == "python":
        installed = venv_python(where)
        if installed.is_file() and _same(where / "python" / PYTHON_LOCK, HERE / "python" / PYTHON_LOCK):
            return [str(installed), str(driver.source)], None
        if sys.version_info >= driver.python and importlib.util.find_spec(driver.library) is not None:
            return [sys.executable, str(driver.source)], None
        needs = f"Python >= {driver.python[0]}.{driver.python[1]} with {driver.library}"
        return None, f"{client} needs {needs}: the Python drivers are not installed in {where}; run `{INSTALL_COMMAND}`"
    node = shutil.which("node")
    copy = where / "node"
    if node is None:
        return None, f"{client} needs Node.js (node on PATH), then `{INSTALL_COMMAND}`"
    if not ((copy / "node_modules").is_dir() and _same(copy / NODE_LOCK, HERE / "node" / NODE_LOCK)):
        return None, f"{client} needs {driver.library} from npm: the Node drivers are not installed in {where}; " + (
            f"run `{INSTALL_COMMAND}`"
        )
    stale = [f.name for f in sorted((HERE / "node").glob("*.mjs")) if not _same(copy / f.name, f)]
    if stale:
        return None, f"the Node drivers in {where} are out of date ({', '.join(stale)}); run `{INSTALL_COMMAND}`"
    return [node, str(copy / driver.entry)], None


def available(client: str, where: Path | None = None) -> str | None:
    """None when ``client``'s driver can run here, else the reason, with the command that installs it."""
    return command(client, where)[1]


def root_of(base_url: str) -> str:
    """The API root a Messages client is given: the base URL without its ``/v1`` (the SDK adds ``/v1/messages``)."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def make_request(
    base_url: str,
    model: str,
    api_key: str,
    *,
    headers: Mapping[str, str] | None = None,
    reasoning: bool = False,
    max_output: int = 8192,
    timeout_s: float = 30.0,
    tag: Any = None,
) -> dict[str, Any]:
    """One request line of the driver protocol."""
    return {
        "tag": tag,
        "base_url": base_url.rstrip("/"),
        "root": root_of(base_url),
        "model": model,
        "api_key": api_key,
        "headers": dict(headers or {}),
        "reasoning": reasoning,
        "max_output": max_output,
        "timeout_s": timeout_s,
    }


def _secrets(requests: Iterable[Mapping[str, Any]]) -> Redactor:
    found: list[str] = []
    for request in requests:
        found.append(str(request.get("api_key") or ""))
        found.extend(str(v) for v in (request.get("headers") or {}).values())
    return Redactor(found)


def _failure(client: str, library: str, request: Mapping[str, Any], outcome: str, error: str) -> dict[str, Any]:
    return {
        "tag": request.get("tag"),
        "client": client,
        "library": library,
        "outcome": outcome,
        "steps": [],
        "lost": [],
        "error": error,
    }


def _well_formed(result: Any, tag: Any) -> str | None:
    """Why ``result`` is not a driver result for the request tagged ``tag`` (None when it is)."""
    if not isinstance(result, dict):
        return "a line that is not a JSON object"
    if result.get("tag") != tag:
        return f"a result for tag {result.get('tag')!r} where {tag!r} was due"
    if result.get("outcome") not in DRIVER_OUTCOMES:
        return f"an outcome of {result.get('outcome')!r}"
    steps = result.get("steps")
    if not isinstance(steps, list) or not all(
        isinstance(s, dict) and s.get("name") in STEPS and s.get("outcome") in DRIVER_OUTCOMES for s in steps
    ):
        return "steps that are not a list of {name, outcome, detail}"
    lost = result.get("lost")
    if not isinstance(lost, list) or not set(lost) <= set(LOST):
        return "a lost list with unknown kinds"
    if not isinstance(result.get("error"), str | None):
        return "an error that is not a string or null"
    return None


class _Lines(threading.Thread):
    """Reads a driver's stdout in the background, a line at a time, onto a queue; ``None`` marks its end."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.queue: queue.Queue[bytes | None] = queue.Queue()

    def run(self) -> None:
        try:
            for line in iter(lambda: self.stream.readline(MAX_LINE_BYTES), b""):
                if line.strip():
                    self.queue.put(line)
        except (OSError, ValueError):
            pass
        self.queue.put(None)


class _Tail(threading.Thread):
    """Reads a driver's stderr in the background, keeping its last lines."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: collections.deque[bytes] = collections.deque(maxlen=STDERR_LINES)

    def run(self) -> None:
        try:
            for line in iter(lambda: self.stream.readline(MAX_LINE_BYTES), b""):
                self.lines.append(line)
        except (OSError, ValueError):
            pass

    def last(self) -> str:
        said = b"".join(self.lines).decode("utf-8", "replace").strip().splitlines()
        return f"; its last stderr line: {said[-1][:500]}" if said else ""


def driver_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(STRIPPED_ENV)}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
    return env


def budget_s(requests: Sequence[Mapping[str, Any]]) -> float:
    """How long a driver may take over ``requests`` before it counts as hung: generous, never a measurement."""
    steps = (float(r.get("timeout_s") or 30.0) * ATTEMPTS_BOUND + 10.0 for r in requests)
    return STARTUP_S + sum(steps) * len(STEPS)


class DriverProcess:
    """One driver kept running across requests, asked one at a time: its start (an interpreter and the SDK's
    imports, about 1.5 s of CPU for a Python driver) is paid once, not per request.

    A driver that cannot start, exits, hangs past its budget or prints something that is not a result gives an
    ``error`` result that says so (with the end of its stderr), and is started afresh for the next request; no
    secret from a request appears in any result. A driver that cannot run here (``reason``) answers ``not-run``.
    Safe to share between threads: requests to one process wait their turn.
    """

    def __init__(self, argv: Sequence[str] | None, client: str, library: str, *, reason: str | None = None) -> None:
        self.argv, self.client, self.library, self.reason = argv, client, library, reason
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: _Lines | None = None
        self._tail: _Tail | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> DriverProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def ask(self, request: Mapping[str, Any], *, timeout_s: float | None = None) -> dict[str, Any]:
        """The driver's result for one request."""
        redactor = _secrets([request])
        if self.argv is None:
            return _failure(self.client, self.library, request, "not-run", self.reason or "not installed")
        with self._lock:
            return redactor.data(self._ask(request, budget_s([request]) if timeout_s is None else timeout_s, redactor))

    def _ask(self, request: Mapping[str, Any], timeout_s: float, redactor: Redactor) -> dict[str, Any]:
        what = f"the {self.client} driver"

        def failed(why: str) -> dict[str, Any]:
            return _failure(self.client, self.library, request, "error", redactor.text(why))

        if self._proc is None:
            try:
                self._start()
            except OSError as exc:
                return failed(f"{what} could not start ({exc.strerror or exc})")
        assert self._proc is not None and self._proc.stdin is not None and self._lines is not None
        try:
            self._proc.stdin.write(json.dumps(dict(request)).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # it has exited: the end of its output says so below
        try:
            line = self._lines.queue.get(timeout=timeout_s)
        except queue.Empty:
            self._stop(kill=True)
            return failed(f"{what} gave no answer within {timeout_s:.0f} s and was stopped")
        if line is None:
            status = self._stop()
            return failed(f"{what} exited with status {status} before answering this request{self._said()}")
        try:
            result = json.loads(line)
        except ValueError:
            result = None
        problem = _well_formed(result, request.get("tag"))
        if problem:
            shown = line[:200].decode("utf-8", "replace").strip()
            self._stop(kill=True)
            return failed(f"{what} printed {problem} instead of a result: {shown!r}{self._said()}")
        return dict(result)

    def _start(self) -> None:
        assert self.argv is not None
        self._proc = subprocess.Popen(
            list(self.argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=driver_env()
        )
        self._lines, self._tail = _Lines(self._proc.stdout), _Tail(self._proc.stderr)
        self._lines.start()
        self._tail.start()

    def _said(self) -> str:
        return self._tail.last() if self._tail else ""

    def _stop(self, *, kill: bool = False) -> int | None:
        """End the process (EOF on stdin, then a kill if it lingers; at once with ``kill``, for a driver that has
        hung or broken the protocol) and return its exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if kill:
            proc.kill()
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for reader in (self._lines, self._tail):
            if reader is not None:
                reader.join(timeout=10)
        return proc.returncode

    def close(self) -> None:
        """Stop the process; the next request starts it again."""
        self._stop()


def process(client: str, where: Path | None = None) -> DriverProcess:
    """``client``'s driver as a process kept running (started at its first request)."""
    driver = DRIVERS[client]
    argv, reason = command(client, where)
    return DriverProcess(argv, client, driver.label, reason=reason)


def run_driver(
    argv: Sequence[str],
    client: str,
    library: str,
    requests: Sequence[Mapping[str, Any]],
    *,
    timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """Run one driver process over ``requests`` and return one result per request, in order (``timeout_s`` for
    each request; by default its generous ``budget_s``)."""
    with DriverProcess(argv, client, library) as driver:
        return [driver.ask(request, timeout_s=timeout_s) for request in requests]


def run(client: str, requests: Sequence[Mapping[str, Any]], *, where: Path | None = None) -> list[dict[str, Any]]:
    """``client``'s driver over ``requests`` in one process; ``not-run`` results when it cannot run here."""
    with process(client, where) as driver:
        return [driver.ask(request) for request in requests]


def run_all(
    requests: Sequence[Mapping[str, Any]], clients: Iterable[str] | None = None, *, where: Path | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every driver named (all by default) over the same ``requests``, the drivers in parallel."""
    names = list(clients if clients is not None else DRIVERS)
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {name: pool.submit(run, name, requests, where=where) for name in names}
        return {name: future.result() for name, future in futures.items()}

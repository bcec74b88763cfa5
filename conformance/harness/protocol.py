"""The loader protocol (``schemas/loader-io.schema.json``): its messages, and running a loader command safely.

A loader is someone else's program: it may hang, crash, print a traceback, nothing, or a 100 MB line. Every
one of those becomes a ``Reply`` with a ``problem`` that says so, within the timeout and the output cap, and
the process is killed (with its process group, so a shell wrapper's children go too). The suite runs one
process per request, or one for a stream of JSON Lines (``lines=True``), restarted after any problem because a
stream that went wrong once cannot be trusted to stay in step.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from conformance import schemas
from conformance.errors import ConformanceError, UsageError

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""A response longer than this is a failure: no catalog's mapped models come near it."""
STDERR_TAIL_BYTES = 4000
SHOWN_OUTPUT_CHARS = 300


class ProtocolError(ConformanceError):
    """A message that is not what the protocol says it must be."""


def accepted(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"ok": True, "models": models}


def refused(error: str, code: str | None = None, stage: str | None = None) -> dict[str, Any]:
    return {"ok": False, "error": error, **({"code": code} if code else {}), **({"stage": stage} if stage else {})}


def _reject_constant(literal: str) -> Any:
    raise ValueError(f"{literal} is not JSON")


def _first_schema_error(value: Any, definition: str) -> str | None:
    errors = sorted(schemas.validator("loader-io", definition).iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return None
    where = "/".join(map(str, errors[0].absolute_path))
    return errors[0].message + (f" (at /{where})" if where else "")


def parse_message(data: bytes | str, definition: str) -> dict[str, Any]:
    """One protocol message (``/definitions/request`` or ``/definitions/response``), or ``ProtocolError``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if not text.strip():
        raise ProtocolError("it is empty")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"it is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"it is a JSON {type(value).__name__}, not an object")
    if definition == "/definitions/response":
        if not isinstance(value.get("ok"), bool):
            raise ProtocolError('it has no "ok": true or false')
        definition = "/definitions/accepted" if value["ok"] else "/definitions/refused"
    problem = _first_schema_error(value, definition)
    if problem:
        raise ProtocolError(problem)
    return value


def serve(answer: Callable[[dict[str, Any]], dict[str, Any]], stdin: IO[bytes], stdout: IO[str]) -> None:
    """Answer request lines until stdin ends: the loop a loader written in Python needs, one response a line."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            response = answer(parse_message(line, "/definitions/request"))
        except ProtocolError as exc:
            response = refused(f"not a loader-protocol request: {exc}", "bad-request")
        stdout.write(json.dumps(response, ensure_ascii=False, allow_nan=False) + "\n")
        stdout.flush()


@dataclass(frozen=True)
class Reply:
    """What came of sending one request to the loader."""

    response: dict[str, Any] | None
    """The protocol response, or ``None`` when there is none to judge."""
    problem: str | None = None
    """Why there is no usable response: a timeout, a crash, non-JSON output, nothing, too much, an exit status."""
    output: str = ""
    """The start of what the loader printed, when it was not a response."""
    stderr: str = ""
    """The end of what the loader wrote to stderr."""
    timed_out: bool = False
    """Whether the loader used up the whole timeout (it hung, or did not exit)."""
    silent_failure: bool = False
    """Whether it could not be started, or exited having printed nothing: what a command whose program, script
    or module is missing does."""


def command(value: str, option: str = "--loader-cmd") -> list[str]:
    """A command line split as a POSIX shell would (no shell runs it), or ``UsageError`` when it names no
    program that exists."""
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise UsageError(f"{option}={value}: cannot split it into words ({exc})") from None
    if not argv:
        raise UsageError(f"{option} needs a command, e.g. {option}='node my-loader.js'")
    program = argv[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        if not (Path(program).is_file() and os.access(program, os.X_OK)):
            raise UsageError(f"{option}={value}: {program} is not an executable file")
    elif shutil.which(program) is None:
        raise UsageError(f"{option}={value}: no such command: {program}")
    return argv


class _Process:
    """One running loader: stdout read on a thread (so a read can time out, a line at most the cap long),
    stderr kept as a bounded tail, writes on a thread (so a loader that never reads stdin cannot block us)."""

    def __init__(self, argv: Sequence[str], cwd: Path | None) -> None:
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=os.name == "posix",
        )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.answered = 0
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader.start()

    def _read_stdout(self) -> None:
        assert self.popen.stdout is not None
        while True:
            line = self.popen.stdout.readline(MAX_RESPONSE_BYTES + 1)
            self.lines.put(line or None)
            if not line or len(line) > MAX_RESPONSE_BYTES:
                return  # at the end, or over the cap: stop reading, the caller kills the process

    def _read_stderr(self) -> None:
        assert self.popen.stderr is not None
        for chunk in iter(lambda: self.popen.stderr.read1(65536), b""):  # type: ignore[union-attr]
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size - len(self._stderr[0]) >= STDERR_TAIL_BYTES:
                self._stderr_size -= len(self._stderr.popleft())

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr)[-STDERR_TAIL_BYTES:].decode("utf-8", errors="replace").strip()

    def write(self, data: bytes, *, close: bool) -> None:
        def send() -> None:
            assert self.popen.stdin is not None
            try:
                self.popen.stdin.write(data)
                self.popen.stdin.flush()
                if close:
                    self.popen.stdin.close()
            except (OSError, ValueError):
                pass  # the loader exited or closed stdin: what it printed says the rest

        threading.Thread(target=send, daemon=True).start()

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(self.popen.pid, signal.SIGKILL)
                else:
                    self.popen.kill()
            except ProcessLookupError:
                pass
        self.popen.wait()
        self._stderr_reader.join(timeout=1)  # so that the last words of a crash are in ``stderr``

    def exit_problem(self, deadline: float) -> str | None:
        """Why the process's exit is a failure (it did not exit in time, a status, a signal), or ``None``."""
        try:
            status = self.popen.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            return "it closed its output but did not exit within the timeout"
        if status < 0:
            return f"it was killed by signal {signal.Signals(-status).name}"
        return f"it exited with status {status}" if status else None


def _shown(data: bytes) -> str:
    text = data[: SHOWN_OUTPUT_CHARS * 4].decode("utf-8", errors="replace")
    return text if len(text) <= SHOWN_OUTPUT_CHARS else text[:SHOWN_OUTPUT_CHARS] + "…"


class LoaderCommand:
    """A loader command the suite sends requests to: a process per request, or one process for a stream of
    JSON Lines (``lines``), restarted after any problem."""

    def __init__(self, argv: Sequence[str], *, timeout_s: float, lines: bool, cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self.lines = lines
        self.cwd = cwd
        self._stream: _Process | None = None

    def ask(self, request: dict[str, Any]) -> Reply:
        """Send one request and read its answer; never raises for anything the loader does."""
        data = (json.dumps(request, ensure_ascii=True) + "\n").encode()
        deadline = time.monotonic() + self.timeout_s
        try:
            process = self._stream if self.lines and self._stream else _Process(self.argv, self.cwd)
        except OSError as exc:
            return Reply(None, f"it could not be started: {exc.strerror or exc}", silent_failure=True)
        process.write(data, close=not self.lines)
        output, problem = self._read(process, deadline)
        if problem is None and not self.lines:
            problem = process.exit_problem(deadline)
        response = None
        if problem is None:
            try:
                response = parse_message(output, "/definitions/response")
            except ProtocolError as exc:
                problem = f"its output is not a protocol response: {exc}"
        if problem is None:
            process.answered += 1
        silent_failure = not output and process.popen.returncode is not None
        reusable = self.lines and problem is None  # one that has exited says so at the next request, every time
        if not reusable:
            process.kill()
        self._stream = process if reusable else None
        return Reply(
            response,
            problem,
            output=_shown(output) if problem else "",
            stderr=process.stderr,
            timed_out=time.monotonic() >= deadline,
            silent_failure=silent_failure,
        )

    def _read(self, process: _Process, deadline: float) -> tuple[bytes, str | None]:
        """One line (a stream) or everything up to end of output (a process per request), within the deadline
        and the cap."""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                line = process.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                return b"".join(chunks), f"it gave no answer within the timeout ({self.timeout_s:g} s)"
            if line is None:
                if chunks:
                    return b"".join(chunks), None
                status = process.exit_problem(deadline) or "it exited with status 0"
                if process.answered:  # a stream must read on until stdin closes
                    return b"", f"{status} after answering {process.answered} request(s), instead of reading this one"
                return b"", f"it printed nothing: {status}"
            chunks.append(line)
            size += len(line)
            if size > MAX_RESPONSE_BYTES:
                return b"".join(chunks)[:1000], f"its output is over the {MAX_RESPONSE_BYTES // 1048576} MiB cap"
            if self.lines and line.endswith(b"\n"):
                return line, None

    def close(self) -> None:
        """End the stream, if one is running: close its stdin and give it a moment before killing it."""
        process, self._stream = self._stream, None
        if process is None:
            return
        try:
            assert process.popen.stdin is not None
            process.popen.stdin.close()
            process.popen.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        process.kill()

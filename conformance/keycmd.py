"""A bearer token from a command (``--api-key-cmd``), the way Codex's ``model_providers.<id>.auth`` gets one.

The command runs without a shell; its trimmed standard output is the token. It must finish within a timeout
(Codex: ``timeout_ms``, default 5 s) and is run again once the token is older than the refresh interval (Codex:
``refresh_interval_ms``, default 300 s; 0 never refreshes). Source: openai/codex,
``codex-rs/protocol/src/config_types.rs`` (``ModelProviderAuthInfo``). A failure, a timeout or an empty output is
one usage line that names the program and never repeats what it printed (that may be the token).
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.errors import UsageError

OPTION = "--api-key-cmd"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_REFRESH_S = 300.0


@dataclass(frozen=True)
class KeyCommand:
    """What to run, for how long at most, and how long its token lasts (0: for the whole run)."""

    argv: tuple[str, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    refresh_s: float = DEFAULT_REFRESH_S

    @classmethod
    def parse(cls, text: str, *, timeout_s: float, refresh_s: float) -> KeyCommand:
        """``"CMD ARGS"`` split as a POSIX shell would split it, but never run by one."""
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            raise UsageError(f"{OPTION}: cannot split the command into words ({exc})") from None
        if not argv:
            raise UsageError(f"{OPTION} needs a command that prints the token")
        return cls(argv, timeout_s, refresh_s)

    @property
    def program(self) -> str:
        """The program's name as shown in messages (its arguments may hold secrets of their own)."""
        return Path(self.argv[0]).name

    def run(self) -> str:
        """The token the command prints now; a usage error when there is none to be had."""
        where = f"{OPTION}: {self.program!r}"
        try:
            done = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise UsageError(f"{where} was not found") from None
        except PermissionError:
            raise UsageError(f"{where} cannot be run (permission denied)") from None
        except subprocess.TimeoutExpired:
            raise UsageError(f"{where} did not finish within {self.timeout_s:g} s (--api-key-cmd-timeout)") from None
        except OSError as exc:
            raise UsageError(f"{where} cannot be run ({exc.strerror or type(exc).__name__})") from None
        if done.returncode != 0:
            raise UsageError(f"{where} exited with status {done.returncode}")
        token = done.stdout.decode("utf-8", errors="replace").strip()
        if not token:
            raise UsageError(f"{where} printed nothing; the token is its trimmed standard output")
        if any(ord(c) < 32 or ord(c) == 127 for c in token):
            raise UsageError(f"{where} printed more than one line or control characters; print the token alone")
        return token


@dataclass
class KeySource:
    """The current token of a ``KeyCommand``: run at first use, again once ``refresh_s`` has passed (by
    ``clock``). Every token it hands out is told to each listener first (the redactor), so none is ever shown.
    A refresh that fails keeps the token it had: the run goes on, and a wrong token shows as a 401 finding."""

    command: KeyCommand
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, repr=False)
    _since: float = 0.0
    _seen: list[str] = field(default_factory=list, repr=False)
    _listeners: list[Callable[[str], None]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token(self) -> str:
        with self._lock:
            now = self.clock()
            stale = self.command.refresh_s > 0 and now - self._since >= self.command.refresh_s
            if self._token is None:
                self._set(self.command.run(), now)
            elif stale:
                try:
                    self._set(self.command.run(), now)
                except UsageError:
                    self._since = now
            assert self._token is not None
            return self._token

    def listen(self, listener: Callable[[str], None]) -> None:
        """Call ``listener`` with every token handed out so far and from now on."""
        with self._lock:
            self._listeners.append(listener)
            for token in self._seen:
                listener(token)

    def _set(self, token: str, now: float) -> None:
        if token not in self._seen:
            self._seen.append(token)
            for listener in self._listeners:
                listener(token)
        self._token, self._since = token, now

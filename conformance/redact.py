"""The one place secrets are masked. Everything the suite prints or writes passes through a ``Redactor``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


def _forms(secret: str) -> set[str]:
    """How a secret may appear: as is, percent-encoded (either hex case), plus-encoded, JSON-escaped."""
    encoded = quote(secret, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
    return {secret, encoded, lower, quote_plus(secret), secret.replace("/", "\\/")}


class Redactor:
    """Masks each secret, and its URL-encoded forms, wherever it appears in text or in nested data."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        forms = {form for s in secrets if s and len(s) >= 4 for form in _forms(s)}
        self._forms = sorted(forms, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        """Mask ``secret`` too from now on (a token a command handed out during the run)."""
        if secret and len(secret) >= 4:
            self._forms = sorted({*self._forms, *_forms(secret)}, key=len, reverse=True)

    @property
    def masks(self) -> bool:
        """Whether there is anything to mask (a run without a key or header has nothing)."""
        return bool(self._forms)

    def text(self, value: str) -> str:
        for form in self._forms:
            value = value.replace(form, MASK)
        return value

    def data(self, value: Any) -> Any:
        """``value`` with every string in it (keys included) masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


class LogMasking:
    """Masks secrets in every log record made while it is installed (``with LogMasking(redactor): …``, or
    ``install``/``uninstall``): captured logs, JUnit XML and log files then never carry them."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._previous: Callable[..., logging.LogRecord] | None = None

    def install(self) -> None:
        previous = self._previous = logging.getLogRecordFactory()

        def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.msg = self.redactor.text(record.getMessage())
            record.args = None
            return record

        logging.setLogRecordFactory(make)

    def uninstall(self) -> None:
        if self._previous is not None:
            logging.setLogRecordFactory(self._previous)
            self._previous = None

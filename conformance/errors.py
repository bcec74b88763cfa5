"""The suite's own exception types; see the tree in the package docstring."""

from __future__ import annotations


class ConformanceError(Exception):
    """Base of every exception the suite raises on purpose."""


class LoaderError(ConformanceError):
    """The reference loader refuses a document, the way a Provider Defined client would.

    ``code`` is stable (fixtures and the loader protocol compare it), ``pointer`` is an RFC 6901 JSON
    pointer into the document ("" for the whole document), the message says what to fix, and ``stage`` says
    where the client gives up: ``parse`` (JSON.parse), ``schema`` (its schema refuses a document) or ``fetch``
    (a request cannot be made or does not succeed).
    """

    def __init__(self, code: str, message: str, pointer: str = "", stage: str = "schema") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pointer = pointer
        self.stage = stage

    def __str__(self) -> str:
        where = f" (at {self.pointer})" if self.pointer else ""
        return f"{self.message}{where}"


class DocumentError(LoaderError):
    """The bytes are not a document ``JSON.parse`` reads (or exceed this suite's bounds)."""

    def __init__(self, code: str, message: str, pointer: str = "") -> None:
        super().__init__(code, message, pointer, stage="parse")


class UsageError(ConformanceError):
    """The command line asks for something that cannot run; the message names the option and the fix."""

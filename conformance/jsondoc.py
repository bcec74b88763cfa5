"""JSON reading as the reference client reads it (``JSON.parse``), bounded, with what is legal but odd noted.

Python's ``json`` accepts ``NaN`` and ``Infinity`` literals, which ``JSON.parse`` rejects: ``read`` refuses them
(``DocumentError`` with a code, a message a provider can act on, and a JSON pointer). What ``JSON.parse`` takes
is taken, and noted on the ``Document`` for the SHOULD checks: a leading UTF-8 byte-order mark (axios strips it
from a response; the client trims pasted text, which removes it), a number beyond a double's range (it becomes
``Infinity``, which the client's schema accepts), nesting deeper than ``MAX_DEPTH`` (``JSON.parse`` has no
limit) and duplicate keys (the last one wins). Only this suite's own bounds refuse more: the size cap, and
nesting beyond ``READ_DEPTH``, deeper than a Python parser follows, so a hostile document gets a verdict and
never a crash.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from conformance.errors import DocumentError

MAX_DEPTH = 64
"""Nesting deeper than this is noted (JSON-002): no catalog needs it, and some readers refuse it."""
READ_DEPTH = 512
"""Nesting deeper than this is refused: the bound of this suite's reader, not of ``JSON.parse``."""
_MAX_DOUBLE = int(sys.float_info.max)
_MAX_DOUBLE_DIGITS = len(str(_MAX_DOUBLE))
DEFAULT_MAX_BYTES = 32 * 1024 * 1024

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BOMS = {b"\xef\xbb\xbf": "UTF-8", b"\xff\xfe": "UTF-16 (LE)", b"\xfe\xff": "UTF-16 (BE)"}


@dataclass(frozen=True)
class Document:
    """A parsed document and what was legal but suspicious in it."""

    value: Any
    duplicate_keys: tuple[str, ...] = ()
    """JSON pointers of object members whose key appeared more than once (the last value was kept)."""
    bom: bool = False
    """Whether the text started with a byte-order mark (read past, as the client does)."""
    overflows: tuple[str, ...] = ()
    """JSON pointers of numbers beyond a double's range, read as infinity (as ``JSON.parse`` reads them)."""
    depth: int = 0
    """The deepest array/object nesting."""


class _NonFinite(float):
    """A ``NaN``/``Infinity`` literal, kept until its pointer is known."""

    def __new__(cls, literal: str) -> _NonFinite:
        self = super().__new__(cls, "nan")
        self.literal = literal
        return self


class _Overflow(float):
    """A number beyond a double's range: infinity, as ``JSON.parse`` reads it, marked until its pointer is known."""

    def __new__(cls, literal: str) -> _Overflow:
        return super().__new__(cls, "-inf" if literal.startswith("-") else "inf")


def escape(token: str) -> str:
    """Escape one reference token of an RFC 6901 JSON pointer."""
    return token.replace("~", "~0").replace("/", "~1") if "~" in token or "/" in token else token


def join(pointer: str, *tokens: str | int) -> str:
    """Extend ``pointer`` by ``tokens``."""
    for token in tokens:
        pointer = f"{pointer}/{escape(str(token))}"
    return pointer


def walk(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every value in a document with its pointer, parents before children, members in document order."""
    stack: list[tuple[str, Any]] = [(pointer, value)]
    while stack:
        here, node = stack.pop()
        yield here, node
        if isinstance(node, dict):
            stack.extend((join(here, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((join(here, i), v) for i, v in reversed(list(enumerate(node))))


def nesting_depth(text: str) -> int:
    """The deepest array/object nesting in ``text``, without parsing (so without recursion)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(1 if c in "[{" else -1 for c in brackets))


def _depth(value: Any) -> int:
    """The deepest array/object nesting of a parsed value, level by level (no recursion; half the time of
    counting brackets in the text of a 20,000-model catalog)."""
    depth, level = 0, [value] if isinstance(value, dict | list) else []
    while level:
        depth += 1
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
    return depth


def _too_deep(depth: int, max_depth: int) -> DocumentError:
    return DocumentError(
        "too-deep",
        f"the document nests arrays/objects {depth} levels deep; this suite reads {max_depth} at most, "
        "far beyond any provider catalog",
    )


def _too_large(max_bytes: int) -> str:
    return (
        f"the document is larger than the {max_bytes / 1048576:g} MiB cap (--max-body-mb); "
        "no provider catalog needs to be this large"
    )


def decode(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Bytes to text as the client reads them: UTF-8 (a UTF-8 byte-order mark is kept, as a character, for the
    caller to read past), within the size cap."""
    if len(data) > max_bytes:
        raise DocumentError("too-large", _too_large(max_bytes))
    for bom, encoding in _BOMS.items():
        if data.startswith(bom) and encoding != "UTF-8":
            raise DocumentError(
                "bom",
                f"the document starts with a {encoding} byte-order mark: it is not UTF-8 text. "
                "Save the file as UTF-8 without a BOM",
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            "not-utf8",
            f"the document is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "serve JSON as UTF-8",
        ) from None


def read(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = READ_DEPTH) -> Document:
    """Parse one JSON document as ``JSON.parse`` does; ``DocumentError`` for what it rejects, or beyond the
    size cap and ``max_depth``."""
    if isinstance(data, bytes):
        text = decode(data, max_bytes=max_bytes)
    else:
        if len(data) > max_bytes:
            raise DocumentError("too-large", _too_large(max_bytes))
        text = data
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]
    if not text.strip():
        raise DocumentError("empty", "the document is empty: expected a JSON value")

    flags = {"non_finite": False, "overflow": False}
    dupes_of: dict[int, tuple[dict[str, Any], list[str]]] = {}  # holds each object so its id stays unique

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            dupes_of[id(obj)] = (obj, sorted({k for k, _ in items if k in seen or seen.add(k)}))
        return obj

    def constant(literal: str) -> float:
        flags["non_finite"] = True
        return _NonFinite(literal)

    def number(literal: str) -> float:
        value = float(literal)
        if math.isinf(value):
            flags["overflow"] = True
            return _Overflow(literal)
        return value

    def integer(literal: str) -> int | float:
        # JSON.parse reads every number as a double: an integer beyond its range becomes Infinity
        if len(literal.lstrip("-")) <= _MAX_DOUBLE_DIGITS:
            value = int(literal)
            if abs(value) <= _MAX_DOUBLE:
                return value
        flags["overflow"] = True
        return _Overflow(literal)

    try:
        value = json.loads(
            text, object_pairs_hook=pairs, parse_constant=constant, parse_float=number, parse_int=integer
        )
    except json.JSONDecodeError as exc:
        raise DocumentError(
            "invalid-json", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:  # deeper than the parser follows: counted in the text instead
        raise _too_deep(nesting_depth(text), max_depth) from None
    depth = _depth(value)
    if depth > max_depth:
        raise _too_deep(depth, max_depth)

    if flags["non_finite"]:
        for pointer, node in walk(value):
            if isinstance(node, _NonFinite):
                raise DocumentError(
                    "non-finite-number",
                    f"{node.literal} is not a JSON number (JSON.parse rejects it); write a finite number or "
                    "leave the field out",
                    pointer,
                )
    overflows = tuple(p for p, node in walk(value) if isinstance(node, _Overflow)) if flags["overflow"] else ()
    duplicates: list[str] = []
    if dupes_of:
        for pointer, node in walk(value):
            owner, keys = dupes_of.get(id(node), (None, []))
            if owner is node:
                duplicates.extend(join(pointer, key) for key in keys)
    return Document(value, tuple(duplicates), bom, overflows, depth)

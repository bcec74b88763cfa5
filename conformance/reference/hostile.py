"""Responses of a hostile provider: what the suite must survive with a verdict, within its bounds.

Each builder answers for one hostile fault of ``faults.FAULTS``; the server calls it in place of the normal
response. None of them is unbounded for the server either: an "endless" body ends after a gigabyte, a request
that is "never answered" is dropped when the client goes or the server stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import zlib
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

from starlette.responses import Response, StreamingResponse

CHUNK = 1 << 20
HUGE_BYTES = 1 << 30
BOMB_BYTES = 256 << 20
DEEP = 1_000_000
DRIP_S = 1.0
ENDLESS_GAP_S = 0.01
"""Between the endless stream's chunks: a hundred a second never end either, and cost both ends a tenth of the CPU
of a thousand."""


class Reset(Exception):
    """Raised inside a streamed body to make uvicorn drop the connection mid-response."""


class _QuietResets(logging.Filter):
    """Keeps uvicorn from logging the deliberate resets as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Reset))


logging.getLogger("uvicorn.error").addFilter(_QuietResets())


async def _huge() -> AsyncIterator[bytes]:
    yield b'{"object": "list", "data": ['
    padding = b'{"id": "' + b"x" * (CHUNK - 12) + b'"},'
    for _ in range(HUGE_BYTES // CHUNK):
        yield padding


def huge_body() -> Response:
    """``huge-body``: a model list of a gigabyte, sent as fast as the client reads."""
    return StreamingResponse(_huge(), media_type="application/json")


@cache
def _bomb() -> bytes:
    """The bomb's gzip bytes, built from one compressed megabyte: after a full flush deflate starts afresh, so every
    megabyte of zeros compresses to the same bytes, and 256 MiB need not be compressed (a second of CPU) to get them."""
    prefix = b'{"object": "list", "data": "'
    zeros = b"0" * CHUNK
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    count = BOMB_BYTES // CHUNK
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    size = len(prefix) + count * CHUNK
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no time, best compression
    return header + head + block * count + packer.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF)


def gzip_bomb() -> Response:
    """``gzip-bomb``: a few hundred kilobytes on the wire that decode to 256 MiB."""
    return Response(_bomb(), media_type="application/json", headers={"content-encoding": "gzip"})


async def never_answer() -> Response:
    """``never-answer``: the connection is accepted and no byte is ever sent."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def invalid_utf8() -> Response:
    """``invalid-utf8``: a model list whose bytes are not UTF-8."""
    return Response(
        b'{"object": "list", "data": [{"id": "\xff\xfe\xfd", "object": "model"}]}', media_type="application/json"
    )


def deep_json() -> Response:
    """``deep-json``: an extended model list nested a million levels deep."""
    return Response(b"[" * DEEP + b"]" * DEEP, media_type="application/json")


def json_text(value: Any, *, nan_at: str | None = None, duplicate_id: bool = False) -> Response:
    """A JSON body with what ``json.dumps`` will not write: ``NaN`` for a number, or a repeated key."""
    text = json.dumps(value)
    if nan_at:
        text = text.replace(f'"{nan_at}": 1', f'"{nan_at}": NaN', 1)
    if duplicate_id:
        text = text.replace('"id": ', '"id": "shadowed", "id": ', 1)
    return Response(text.encode(), media_type="application/json")


async def _drip(body: bytes) -> AsyncIterator[bytes]:
    for byte in body:
        yield bytes([byte])
        await asyncio.sleep(DRIP_S)


def slow_drip(value: Any) -> Response:
    """``slow-drip``: a correct reply, one byte a second."""
    return StreamingResponse(_drip(json.dumps(value).encode()), media_type="application/json")


async def endless(first: list[bytes], token: bytes) -> AsyncIterator[bytes]:
    """``endless-stream``: the events of a reply, then the same token chunk forever (for a gigabyte)."""
    for frame in first:
        yield frame
    for _ in range(HUGE_BYTES // max(len(token), 1)):
        yield token
        await asyncio.sleep(ENDLESS_GAP_S)


async def reset_after(frames: list[bytes], keep: int) -> AsyncIterator[bytes]:
    """``reset-mid-stream``: the first ``keep`` events, then the connection is dropped."""
    for frame in frames[:keep]:
        yield frame
    raise Reset("reset-mid-stream")

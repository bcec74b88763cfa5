"""Raw-HTTP probes of the conversation faults (``tests/reference/test_server.py`` runs each on a clean and a faulty
server): what a fault changes in a multi-turn history or a parallel turn, read from the bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from conformance import conversation as cv
from conformance.reference.server import REFERENCE_KEY

AUTH = {"authorization": f"Bearer {REFERENCE_KEY}"}
MODEL = "reference/coder"


def _post(c: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return c.post("/v1/chat/completions", json=body, headers=AUTH)


def _history(*, rounds: int, history: str, ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """The loop's history after ``rounds`` tool rounds, as ``history``'s client sends it (ids as given)."""
    messages = cv.opening(cv.LOOP_PROMPT)
    for n in range(1, rounds + 1):
        call = cv.scripted_call(n)
        if ids:
            call = cv.Call(ids[n - 1], call.name, call.arguments)
        messages += [cv.assistant_turn([call], cv.HISTORY[history], "Thinking."), *cv.results([call])]
    return cv.request(MODEL, messages)


def _status(body: dict[str, Any]) -> Callable[[httpx.Client], int]:
    return lambda c: _post(c, body).status_code


def _stream_indexes(c: httpx.Client) -> list[int]:
    """The index of each streamed fragment that starts a call, for the parallel prompt."""
    body = cv.request(MODEL, cv.opening(cv.PARALLEL_PROMPT), stream=True)
    lines = _post(c, body).text.splitlines()
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    return [f["index"] for ch in chunks for d in ch["choices"] for f in d["delta"].get("tool_calls") or [] if "id" in f]


def _calls_with_parallel_false(c: httpx.Client) -> int:
    body = cv.request(MODEL, cv.opening(cv.PARALLEL_PROMPT), parallel_tool_calls=False)
    return len(_post(c, body).json()["choices"][0]["message"]["tool_calls"])


CONVERSATION_PROBES: dict[str, tuple[Callable[[httpx.Client], Any], Any, Any]] = {
    "refuse-second-tool-round": (
        lambda c: (
            _status(_history(rounds=1, history="kilo-code"))(c),
            _status(_history(rounds=2, history="kilo-code"))(c),
        ),
        (200, 200),
        (200, 400),
    ),
    "mangle-tool-ids": (
        lambda c: (
            _status(_history(rounds=1, history="cline", ids=("call_plain",)))(c),
            _status(_history(rounds=1, history="cline", ids=(cv.KIMI_IDS[0],)))(c),
        ),
        (200, 200),
        (200, 400),
    ),
    "refuse-reasoning-history": (
        lambda c: (
            _status(_history(rounds=1, history="cline"))(c),
            _status(_history(rounds=1, history="kilo-code"))(c),
        ),
        (200, 200),
        (200, 400),
    ),
    "demand-reasoning-back": (
        lambda c: (
            _status(_history(rounds=1, history="cline"))(c),
            _status(_history(rounds=1, history="kilo-code"))(c),
        ),
        (200, 200),
        (400, 200),
    ),
    "parallel-same-index": (_stream_indexes, [0, 1], [0, 0]),
    "ignore-parallel-false": (_calls_with_parallel_false, 1, 2),
}
